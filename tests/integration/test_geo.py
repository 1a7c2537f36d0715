"""Geo routing against the real binary: answers and ECS scope, with and without ECS, UDP and TCP."""
import json
import os
import signal
import subprocess
import time
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode

from harness import GEODNSD, TRANSPORTS, Server

HERE = os.path.dirname(os.path.abspath(__file__))
GEOIP = os.path.join(HERE, "..", "data", "geoip")


def gslb_config():
    with open(os.path.join(HERE, "gslb-config.json")) as f:
        return json.loads(f.read().replace("GEOIP_DIR", os.path.abspath(GEOIP)))


US_EAST = {"192.0.2.10", "192.0.2.11"}  # weighted 1:3; the pick depends on the query id


def ecs(addr, source):
    return [dns.edns.ECSOption(addr, source, 0)]


class Geo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(zones=[("gslb.test", "gslb.test.zone")], config_extra=gslb_config()).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def q(self, name, rdtype="A", t="udp", options=None):
        q = dns.message.make_query(name, rdtype, use_edns=0, options=options or [])
        return self.srv.query(q, t)

    @staticmethod
    def addrs(r):
        return sorted(x.to_text() for rr in r.answer for x in rr)

    @staticmethod
    def scope(r):
        for o in r.options:
            if o.otype == dns.edns.ECS:
                return o.scopelen
        return None

    def test_ecs_picks_region_and_sets_scope(self):
        cases = [("198.51.100.0", 24, ["198.51.100.10"], 24),
                 ("203.0.113.0", 24, ["203.0.113.10"], 24),
                 ("10.20.0.0", 16, ["198.51.100.10"], 8),      # CIDR label office
                 ("172.16.9.0", 24, ["203.0.113.10"], 12),     # CIDR region list
                 ("198.51.0.0", 16, US_EAST, 16)]    # shorter than the network: default, scope = source
        for t in TRANSPORTS:
            for addr, src, expect, scope in cases:
                with self.subTest(transport=t, ecs="%s/%d" % (addr, src)):
                    r = self.q("www.gslb.test.", "A", t, ecs(addr, src))
                    self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                    self.assertTrue(r.flags & dns.flags.AA)
                    if isinstance(expect, set):
                        self.assertEqual(len(r.answer[0]), 1)
                        self.assertIn(self.addrs(r)[0], expect)
                    else:
                        self.assertEqual(self.addrs(r), expect)
                    self.assertEqual(self.scope(r), scope)
                    opt = [o for o in r.options if o.otype == dns.edns.ECS][0]
                    self.assertEqual((opt.address, opt.srclen), (addr, src))  # echoed as sent

    def test_ipv6_ecs(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("www.gslb.test.", "AAAA", t, ecs("2001:db8:1::", 48))
                self.assertEqual(self.addrs(r), ["2001:db8:b::10"])
                self.assertEqual(self.scope(r), 48)

    def test_unmatched_client_scope_is_the_unmatched_block(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("www.gslb.test.", "A", t, ecs("8.8.8.0", 24))
                self.assertIn(self.addrs(r)[0], US_EAST)  # default order: us-east, weighted
                self.assertGreater(self.scope(r), 0)
                self.assertLessEqual(self.scope(r), 24)

    def test_without_ecs_the_resolver_address_counts(self):
        # The resolver is 127.0.0.1: not in the database, default order; no ECS option in the answer.
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("www.gslb.test.", "A", t)
                self.assertIn(self.addrs(r)[0], US_EAST)
                self.assertIsNone(self.scope(r))

    def test_source_prefix_zero_uses_resolver_scope_zero(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("www.gslb.test.", "A", t, ecs("0.0.0.0", 0))
                self.assertIn(self.addrs(r)[0], US_EAST)
                self.assertEqual(self.scope(r), 0)

    def test_static_and_negative_answers_scope_zero(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("www.gslb.test.", "TXT", t, ecs("198.51.100.0", 24))
                self.assertEqual(r.answer[0][0].strings, (b"static data beside a pool",))
                self.assertEqual(self.scope(r), 0)
                r = self.q("nope.gslb.test.", "A", t, ecs("198.51.100.0", 24))
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
                self.assertEqual(self.scope(r), 0)

    def test_policy_without_ecs(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("noecs.gslb.test.", "A", t, ecs("198.51.100.0", 24))
                self.assertEqual(self.addrs(r), ["192.0.2.10"])  # resolver 127.0.0.1 -> default us-east
                self.assertEqual(self.scope(r), 0)

    def test_cname_pool_via_wildcard(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.q("img.cdn.gslb.test.", "A", t, ecs("203.0.113.0", 24))
                self.assertEqual(self.addrs(r), ["ap.cdn.example.net."])
                self.assertEqual(r.answer[0].name.to_text(), "img.cdn.gslb.test.")

    def test_malformed_ecs_formerr(self):
        import struct
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                q = dns.message.make_query("www.gslb.test.", "A", use_edns=0,
                                           options=[dns.edns.GenericOption(8, struct.pack("!HBB", 1, 23, 0) + b"\x0a\x00\x01")])
                r = self.srv.raw(q.to_wire(), t)
                self.assertEqual(r[3] & 0xF, dns.rcode.FORMERR)


class ExplainAndReload(unittest.TestCase):
    def test_explain_text_and_json(self):
        srv = Server(zones=[("gslb.test", "gslb.test.zone")], config_extra=gslb_config())
        try:
            out = subprocess.run([GEODNSD, "explain", "--config", srv.config_path, "--name", "www.gslb.test",
                                  "--client", "198.51.100.7/24"], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            for expect in ("geodns-test-city.mmdb", "network 198.51.100.0/24", "country DE",
                           "geo_map (matched subdivision) -> eu-central us-east", "region eu-central",
                           "198.51.100.10", "ttl:      30", "scope:    /24", "www.gslb.test.\t30\tIN\tA\t198.51.100.10"):
                self.assertIn(expect, out.stdout)
            out = subprocess.run([GEODNSD, "explain", "--config", srv.config_path, "--name", "near.gslb.test",
                                  "--client", "203.0.113.9", "--json"], capture_output=True, text=True, timeout=30)
            j = json.loads(out.stdout)
            self.assertEqual(j["chosen_region"], "ap-northeast")
            self.assertEqual(j["location"]["country"], "JP")
            self.assertEqual(j["steps"][0]["step"], "nearest")
            self.assertEqual(j["steps"][0]["order"][0]["region"], "ap-northeast")
            self.assertEqual(j["ecs_scope"], 0)
        finally:
            srv.stop()

    def test_bad_database_on_reload_keeps_old_one(self):
        cfg = gslb_config()
        srv = Server(zones=[("gslb.test", "gslb.test.zone")], config_extra=cfg).start()
        try:
            def ask():
                q = dns.message.make_query("www.gslb.test.", "A", use_edns=0, options=ecs("198.51.100.0", 24))
                return sorted(x.to_text() for rr in dns.query.udp(q, srv.host, port=srv.port, timeout=2).answer for x in rr)
            self.assertEqual(ask(), ["198.51.100.10"])
            cfg["geo"]["databases"] = [{"file": os.path.abspath(os.path.join(GEOIP, "GeoIP2-City-Test-Invalid-Node-Count.mmdb"))}]
            with open(srv.config_path) as f:
                full = json.load(f)
            full["geo"] = cfg["geo"]
            with open(srv.config_path, "w") as f:
                json.dump(full, f)
            srv.signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "reload failed" not in srv.read_log() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("invalid metadata", srv.read_log())
            self.assertEqual(ask(), ["198.51.100.10"])  # old database still answers
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
