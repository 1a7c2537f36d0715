"""Pool decisions against the real binary: a geo_map fence holds during a
drain (and explain beside the server, from the state database, agrees), and
a steadily healthy pool answers with the TTL it configures, which the drain
response and /v1/status report; the TTL is capped only while health is in
transition."""
import json
import os
import re
import subprocess
import time
import unittest

import dns.edns
import dns.message

from admin_client import Api, write_token_file
from backends import TcpBackend, free_tcp_port
from harness import GEODNSD, Server, free_port

GEOIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../data/geoip/geodns-test-city.mmdb")

ZONE = """$ORIGIN dec.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
"""

EU, US = ("198.51.100.0", 24), ("192.0.2.0", 24)


def config(admin_port, backend_port):
    residency = {"continent:EU": ["eu"], "country:US": ["us"], "default": ["us"]}
    return {
        "health": {"database": "state"},
        "admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": "admin.token"},
        "geo": {"databases": [{"file": os.path.abspath(GEOIP)}]},
        "regions": {"us": {}, "eu": {}},
        # Default timing (1 s interval, fall 3, rise 2), on a loopback listener.
        "probes": {"live": {"type": "tcp", "port": backend_port}},
        "pools": {
            "resident": {"ttl": 30, "all_down": "nodata", "regions": {
                "eu": {"members": [{"address": "198.51.100.20"}]},
                "us": {"members": [{"address": "192.0.2.20"}]}}},
            "checked": {"ttl": 30, "probe": "live", "regions": {
                "us": {"members": [{"address": "192.0.2.30", "target": "127.0.0.2"}]}}},
        },
        "policies": {
            "fenced": {"steps": [{"step": "geo_map", "fence": True, "map": residency}]},
            "loose": {"steps": [{"step": "geo_map", "map": residency}]},
            "healthy": {"steps": [{"step": "up"}]},
        },
        "bindings": [
            {"name": "fenced.dec.test", "pool": "resident", "policy": "fenced"},
            {"name": "loose.dec.test", "pool": "resident", "policy": "loose"},
            {"name": "checked.dec.test", "pool": "checked", "policy": "healthy"},
        ],
    }


class Decisions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = TcpBackend("127.0.0.2", free_tcp_port("127.0.0.2"))
        cls.admin_port = free_port()
        cls.srv = Server(zones=[("dec.test", "dec.zone")], zone_files={"dec.zone": ZONE},
                         config_extra=config(cls.admin_port, cls.backend.port))
        write_token_file(cls.srv.dir)
        cls.srv.start()
        cls.api = Api(cls.admin_port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.backend.close()

    def ask(self, name, client):
        q = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.ECSOption(*client)])
        r = self.srv.query(q, "udp")
        scope = [o.scopelen for o in r.options if o.otype == dns.edns.ECS]
        addrs = sorted(x.to_text() for rr in r.answer for x in rr)
        ttl = r.answer[0].ttl if r.answer else None
        return r.rcode(), addrs, ttl, scope[0] if scope else None

    def cli_explain(self, name, client):
        out = subprocess.run([GEODNSD, "explain", "--config", self.srv.config_path, "--name", name,
                              "--client", "%s/%d" % client, "--json"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_1_a_fence_holds_during_a_drain(self):
        self.assertEqual(self.ask("fenced.dec.test", EU)[1], ["198.51.100.20"])
        status, body, _ = self.api.post("/v1/regions/eu/drain", {"reason": "residency test"})
        self.assertEqual(status, 200, body)
        try:
            # Fenced: the EU client gets the pool's all_down answer (NODATA),
            # scoped to its subnet; the unfenced policy moves it to us.
            self.assertEqual(self.ask("fenced.dec.test", EU), (0, [], None, 24))
            self.assertEqual(self.ask("loose.dec.test", EU)[1], ["192.0.2.20"])
            self.assertEqual(self.ask("fenced.dec.test", US)[1], ["192.0.2.20"])
            # geodnsd explain beside the server reads the drain from the state
            # database and decides as the server does.
            x = self.cli_explain("fenced.dec.test", EU)
            self.assertEqual((x["outcome"], x["chosen_region"], x["fenced"], x["ecs_scope"]),
                             ("nodata", None, True, 24))
            x = self.cli_explain("loose.dec.test", EU)
            self.assertEqual((x["outcome"], x["chosen_region"]), ("answer", "us"))
            metrics = self.api.get("/metrics")[1]
            self.assertRegex(metrics, r'geodns_pool_unanswered_total\{pool="resident"\} [1-9]')
            self.assertRegex(metrics, r'geodns_member_answers_total\{pool="resident",region="us",'
                                      r'member="192.0.2.20"\} [1-9]')
        finally:
            self.api.post("/v1/regions/eu/undrain", {"reason": "done"})
        self.assertEqual(self.ask("fenced.dec.test", EU)[1], ["198.51.100.20"])

    def wait_ttl(self, test, limit):
        t0 = time.monotonic()
        while True:
            ttl = self.ask("checked.dec.test", US)[2]
            if ttl is not None and test(ttl):
                return ttl
            if time.monotonic() - t0 > limit:
                self.fail("TTL still %r after %.1fs\n%s" % (ttl, limit, self.srv.read_log()))
            time.sleep(0.05)

    def test_2_ttl_reported_is_the_ttl_sent(self):
        # Default probe settings, backend healthy: the pool's TTL, not min_ttl.
        ttl = self.wait_ttl(lambda t: t == 30, 5)
        status, body, _ = self.api.get("/v1/status")
        self.assertEqual(status, 200)
        pool = [p for p in body["pools"] if p["name"] == "checked"][0]
        self.assertEqual((pool["ttl"], pool["answer_ttl_s"], pool["regions"][0]["answer_ttl_s"]),
                         (30, ttl, ttl))
        status, body, _ = self.api.post("/v1/members/192.0.2.30/drain", {"reason": "ttl test"})
        self.assertEqual(status, 200, body)
        self.api.post("/v1/members/192.0.2.30/undrain", {"reason": "ttl test"})
        self.assertEqual(body["answer_ttl_s"], ttl)  # what resolvers were given
        # The backend stops answering: while health is in transition the TTL
        # is capped (never below health.min_ttl, 5 s by default).
        self.backend.close()
        try:
            capped = self.wait_ttl(lambda t: t < 30, 8)
            self.assertGreaterEqual(capped, 5)
            status, body, _ = self.api.get("/v1/status")
            pool = [p for p in body["pools"] if p["name"] == "checked"][0]
            self.assertLess(pool["regions"][0]["answer_ttl_s"], 30)
        finally:
            self.backend.open()
        self.wait_ttl(lambda t: t == 30, 8)  # steady again: back to the pool's TTL


if __name__ == "__main__":
    unittest.main()
