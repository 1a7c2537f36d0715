"""Compiled decisions (gslb/compiled.h) against the real binary: the ECS
scope of a geo answer is the widest prefix over which the whole decision
cannot change (wider than the database network when the neighbours get the
same answer), over UDP and TCP; a drain recompiles, and the scope changes
with the outcome; explain shows the compiled prefix and how many networks
it merged."""
import json
import os
import subprocess
import time
import unittest

import dns.edns
import dns.message

from admin_client import Api, write_token_file
from harness import GEODNSD, TRANSPORTS, Server, free_port

GEOIP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "../data/geoip/geodns-test-city.mmdb")

ZONE = """$ORIGIN ct.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
"""

EU_IP, US_IP = "198.51.100.10", "192.0.2.10"


def config(admin_port):
    return {
        "health": {"database": "state"},
        "admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": "admin.token"},
        # The fixture database: 198.51.100.0/24 DE (EU), 192.0.2.0/24 US, 203.0.113.0/24 JP.
        "geo": {"databases": [{"file": os.path.abspath(GEOIP)}],
                "nets": {"10.0.0.0/9": {"label": "office"}, "10.128.0.0/9": {"label": "office"}}},
        "regions": {"us": {}, "eu": {}},
        "pools": {"web": {"ttl": 30, "regions": {
            "eu": {"members": [{"address": EU_IP}]},
            "us": {"members": [{"address": US_IP}]}}}},
        "policies": {"geo": {"steps": [{"step": "geo_map", "map": {
            "continent:EU": ["eu", "us"], "label:office": ["eu"],
            "country:US": ["us"], "default": ["us", "eu"]}}]}},
        "bindings": [{"name": "www.ct.test", "pool": "web", "policy": "geo"}],
    }


class Compiled(unittest.TestCase):
    limits = None  # the server's "limits", when set

    @classmethod
    def setUpClass(cls):
        cls.admin_port = free_port()
        cfg = config(cls.admin_port)
        if cls.limits:
            cfg["limits"] = cls.limits
        cls.srv = Server(zones=[("ct.test", "ct.zone")], zone_files={"ct.zone": ZONE},
                         config_extra=cfg)
        write_token_file(cls.srv.dir)
        cls.srv.start()
        cls.api = Api(cls.admin_port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def ask(self, addr, source, t="udp"):
        q = dns.message.make_query("www.ct.test", "A", use_edns=0,
                                   options=[dns.edns.ECSOption(addr, source, 0)])
        r = self.srv.query(q, t)
        scope = [o.scopelen for o in r.options if o.otype == dns.edns.ECS]
        return sorted(x.to_text() for rr in r.answer for x in rr), scope[0] if scope else None

    def explain(self, addr, source):
        out = subprocess.run([GEODNSD, "explain", "--config", self.srv.config_path, "--name",
                              "www.ct.test", "--client", "%s/%d" % (addr, source), "--json"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_1_scopes_widen_to_the_merged_prefix(self):
        for t in TRANSPORTS:
            with self.subTest(t=t):
                # US: its /24 answers like the unmatched space around it.
                addrs, scope = self.ask("192.0.2.0", 24, t)
                self.assertEqual(addrs, [US_IP])
                self.assertLess(scope, 24)
                self.assertGreater(scope, 0)
                # Two adjacent /9 nets with one answer: one /8.
                self.assertEqual(self.ask("10.1.2.0", 24, t), ([EU_IP], 8))
                self.assertEqual(self.ask("10.200.2.0", 24, t), ([EU_IP], 8))
                # Europe's answer differs from its neighbours': its own /24.
                self.assertEqual(self.ask("198.51.100.0", 24, t), ([EU_IP], 24))
                # Capped at the source prefix.
                self.assertEqual(self.ask("10.1.0.0", 7, t), ([EU_IP], 7))
        j = self.explain("10.1.2.0", 24)
        self.assertEqual(j["compiled"], {"prefix": "10.0.0.0/8", "networks": 2})
        self.assertEqual(j["ecs_scope"], 8)

    def test_2_a_drain_recompiles_and_the_scope_follows(self):
        status, body, _ = self.api.post("/v1/regions/eu/drain", {"reason": "compiled test"})
        self.assertEqual(status, 200, body)
        try:
            for t in TRANSPORTS:
                with self.subTest(t=t):
                    # Europe now gets us like its neighbours: the /24 merges.
                    addrs, scope = self.ask("198.51.100.0", 24, t)
                    self.assertEqual(addrs, [US_IP])
                    self.assertLess(scope, 24)
                    self.assertGreater(scope, 0)
            # explain beside the server reads the drain from the state database.
            j = self.explain("198.51.100.0", 24)
            self.assertEqual(j["chosen_region"], "us")
            self.assertLess(j["ecs_scope"], 24)
            self.assertGreater(j["compiled"]["networks"], 1)
        finally:
            status, body, _ = self.api.post("/v1/regions/eu/undrain", {"reason": "done"})
            self.assertEqual(status, 200, body)
        self.assertEqual(self.ask("198.51.100.0", 24), ([EU_IP], 24))

    def test_3_cli_explain_matches_the_servers_compiled_tree(self):
        # geodnsd explain reads the database on demand and walks only the
        # networks around the client; the admin API explains from the
        # running server's compiled trees. Same prefix, networks, scope and
        # answer, for IPv4, IPv6, IPv4-mapped, unmatched and nets clients.
        cases = [("198.51.100.0/24", "A"), ("192.0.2.0/24", "A"), ("203.0.113.7", "A"),
                 ("10.1.2.0/24", "A"), ("10.200.0.0/16", "AAAA"), ("20.1.2.0/24", "A"),
                 ("2001:db8:1::/48", "A"), ("2001:db8:ee::/56", "AAAA"), ("3000::/32", "A"),
                 ("::ffff:198.51.100.0/120", "A"), ("::ffff:20.0.0.0/104", "A")]
        for client, qtype in cases:
            with self.subTest(client=client, type=qtype):
                out = subprocess.run([GEODNSD, "explain", "--config", self.srv.config_path,
                                      "--name", "www.ct.test", "--type", qtype, "--client",
                                      client, "--json"],
                                     capture_output=True, text=True, timeout=30)
                self.assertEqual(out.returncode, 0, out.stderr)
                cli = json.loads(out.stdout)
                status, api, _ = self.api.get("/v1/explain?name=www.ct.test&type=%s&client=%s"
                                              % (qtype, client))
                self.assertEqual(status, 200, api)
                self.assertIsNotNone(api["compiled"])
                for key in ("compiled", "ecs_scope", "chosen_region", "members", "outcome",
                            "ttl", "location", "steps", "answer"):
                    self.assertEqual(cli.get(key), api.get(key), key)


class DeferredCompile(Compiled):
    """limits.defer_geo_compile_nodes: a server starting on geo databases at
    least that big answers first (clients located from the databases) and
    publishes the compiled decisions right after; the fixture's 247 nodes
    are over a limit of 1. Once published, every test of Compiled holds."""
    limits = {"defer_geo_compile_nodes": 1}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        deadline = time.monotonic() + 10
        while "gslb: compiled decisions published" not in cls.srv.read_log():
            if time.monotonic() > deadline:
                cls.srv.stop()
                raise RuntimeError("no compiled decisions published:\n" + cls.srv.final_log)
            time.sleep(0.05)

    def test_0_answered_before_compiling(self):
        log = self.srv.read_log()
        self.assertIn("answering before compiling", log)
        # Ready (answering) before the location tries were built; the
        # inherited tests then check the compiled scopes, explain and drains.
        self.assertLess(log.index("msg=\"ready:"), log.index("location tries built"))
        self.assertLess(log.index("location tries built"),
                        log.index("gslb: compiled decisions published"))

if __name__ == "__main__":
    unittest.main()
