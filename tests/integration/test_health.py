"""Health probes against real HTTP(S) and TCP servers on loopback: answers
change within the rise/fall intervals."""
import subprocess
import time
import unittest

import dns.message
import dns.query

from backends import DnsBackend, HttpBackend, TcpBackend, free_tcp_port, self_signed_cert
from harness import GEODNSD, Server

INTERVAL = 0.2  # seconds, as configured below (interval_ms 200)


def config(http_port, https_port, tcp_port, dns_port):
    return {
        "regions": {"a": {}, "b": {}},
        "health": {"min_ttl": 1},
        "probes": {
            "web": {"type": "http", "port": http_port, "path": "/health", "body_contains": "ok",
                    "interval_ms": 200, "timeout_ms": 150, "rise": 2, "fall": 2, "jitter": 0,
                    "load": {"header": "X-Load"}},
            # TLS handshakes get more time: slow under sanitizers.
            "tls-noverify": {"type": "https", "port": https_port, "host": "web.test", "tls_verify": False,
                             "interval_ms": 500, "timeout_ms": 450, "rise": 1, "fall": 1, "jitter": 0},
            "tls-verify": {"type": "https", "port": https_port, "host": "web.test",
                           "interval_ms": 500, "timeout_ms": 450, "rise": 1, "fall": 1, "jitter": 0},
            "tcp": {"type": "tcp", "port": tcp_port, "interval_ms": 200, "timeout_ms": 150, "rise": 1, "fall": 2,
                    "jitter": 0},
            "dns": {"type": "dns", "port": dns_port, "name": "health.example", "qtype": "AAAA", "rcode": "NXDOMAIN",
                    "interval_ms": 200, "timeout_ms": 150, "rise": 1, "fall": 2, "jitter": 0},
            "dns-answer": {"type": "dns", "port": dns_port, "name": "health.example", "qtype": "AAAA",
                           "expect_answer": True, "interval_ms": 200, "timeout_ms": 150, "rise": 1, "fall": 1,
                           "jitter": 0},
        },
        "pools": {
            "web": {"ttl": 30, "probe": "web", "all_down": "servfail", "regions": {
                "a": {"members": [{"address": "192.0.2.1", "target": "127.0.0.2"}]},
                "b": {"members": [{"address": "198.51.100.1", "target": "127.0.0.3"}]}}},
            "tls": {"ttl": 30, "regions": {
                "a": {"members": [{"address": "192.0.2.11", "target": "127.0.0.4", "probe": "tls-verify"}]},
                "b": {"members": [{"address": "198.51.100.11", "target": "127.0.0.4", "probe": "tls-noverify"}]}}},
            "tcp": {"ttl": 30, "probe": "tcp", "all_down": "nodata", "regions": {
                "a": {"members": [{"address": "192.0.2.21", "target": "127.0.0.5"}]}}},
            "dns": {"ttl": 30, "regions": {
                "a": {"members": [{"address": "192.0.2.31", "target": "127.0.0.8", "probe": "dns"}]},
                "b": {"members": [{"address": "198.51.100.31"}]}}},
            "dnsans": {"ttl": 30, "regions": {
                "a": {"members": [{"address": "192.0.2.41", "target": "127.0.0.8", "probe": "dns-answer"}]},
                "b": {"members": [{"address": "198.51.100.41"}]}}},
        },
        "policies": {"failover": {"steps": [{"step": "up"}]}},
        "bindings": [
            {"name": "www.health.test", "pool": "web", "policy": "failover"},
            {"name": "tls.health.test", "pool": "tls", "policy": "failover"},
            {"name": "tcp.health.test", "pool": "tcp", "policy": "failover"},
            {"name": "dns.health.test", "pool": "dns", "policy": "failover"},
            {"name": "dnsans.health.test", "pool": "dnsans", "policy": "failover"},
        ],
    }


class Health(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_tcp_port("127.0.0.2")
        cls.a = HttpBackend("127.0.0.2", port)
        cls.b = HttpBackend("127.0.0.3", port)
        cls.tls = HttpBackend("127.0.0.4", 0, tls_cert=self_signed_cert("web.test"))
        cls.tcp = TcpBackend("127.0.0.5", free_tcp_port("127.0.0.5"))
        cls.dns = DnsBackend("127.0.0.8")
        cls.srv = Server(zones=[("health.test", "health.test.zone")],
                         config_extra=config(port, cls.tls.port, cls.tcp.port, cls.dns.port)).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        for b in (cls.a, cls.b, cls.tls, cls.dns):
            b.stop()
        cls.tcp.close()

    def answer(self, name):
        r = dns.query.udp(dns.message.make_query(name, "A"), self.srv.host, port=self.srv.port, timeout=2)
        return r.rcode(), [x.to_text() for rr in r.answer for x in rr], (r.answer[0].ttl if r.answer else None)

    def wait_answer(self, name, expect, limit):
        """Polls until the answer equals `expect`; returns the seconds it took (fails past `limit`)."""
        t0 = time.monotonic()
        while True:
            got = self.answer(name)
            if got[1] == expect or (expect == "SERVFAIL" and got[0] == 2):
                return time.monotonic() - t0
            if time.monotonic() - t0 > limit:
                self.fail("%s: still %r after %.1fs, expected %r\n%s" % (name, got, limit, expect, self.srv.read_log()))
            time.sleep(0.02)

    def flip(self, backend, status, name, expect, results):
        """Sets the backend's status and polls until `name` answers `expect`.
        Returns how many probes the backend answered with `status` (a) before
        the query that saw the change and (b) after it."""
        mark = len(backend.served)
        backend.status = status
        count = lambda: sum(1 for s in backend.served[mark:] if s == status)
        t0 = time.monotonic()
        while True:
            before = count()
            got = self.answer(name)[1]
            after = count()
            if got == expect:
                return before, after
            # Unchanged although result `results + 1` was served: the
            # `results`-th arrived an interval ago and should have counted.
            self.assertLessEqual(before, results, "%s: still %r after %d results of %d" % (
                name, got, before, status))
            if time.monotonic() - t0 > 3:
                self.fail("%s: still %r after 3 s\n%s" % (name, got, self.srv.read_log()))
            time.sleep(0.01)

    def test_1_http_down_and_up_after_exactly_fall_and_rise_results(self):
        # Counted at the backend, not timed: the answer changes on the
        # fall-th (rise-th) result, neither before (an off-by-one that
        # changes early) nor after (one that waits a result more).
        self.wait_answer("www.health.test.", ["192.0.2.1"], 3)
        before, after = self.flip(self.a, 503, "www.health.test.", ["198.51.100.1"], 2)
        self.assertGreaterEqual(after, 2)  # fall = 2: not on the first failure
        self.assertLessEqual(before, 2)
        self.assertIn("is down: HTTP status 503", self.srv.read_log())
        before, after = self.flip(self.a, 200, "www.health.test.", ["192.0.2.1"], 2)
        self.assertGreaterEqual(after, 2)  # rise = 2
        self.assertLessEqual(before, 2)

    def test_2_body_match(self):
        self.wait_answer("www.health.test.", ["192.0.2.1"], 3)
        self.a.body = "maintenance"
        self.wait_answer("www.health.test.", ["198.51.100.1"], 3)
        self.a.body = "ok"
        self.wait_answer("www.health.test.", ["192.0.2.1"], 3)

    def wait_ttl(self, name, test, limit=3):
        """Polls until the answer's TTL passes `test`; returns the last TTL."""
        t0 = time.monotonic()
        while True:
            ttl = self.answer(name)[2]
            if ttl is not None and test(ttl):
                return ttl
            if time.monotonic() - t0 > limit:
                self.fail("%s: TTL still %r after %.1fs" % (name, ttl, limit))
            time.sleep(0.02)

    def test_3_all_down_servfail_and_ttl_capped(self):
        self.wait_answer("www.health.test.", ["192.0.2.1"], 3)
        # Everything steadily up: the pool's TTL, not min_ttl.
        self.wait_ttl("www.health.test.", lambda t: t == 30)
        # Region a (ranked first) down: b answers with a capped TTL, so clients
        # come back quickly when a recovers.
        self.a.status = 500
        self.wait_answer("www.health.test.", ["198.51.100.1"], 3)
        self.assertLessEqual(self.answer("www.health.test.")[2], 1)
        self.b.status = 500
        self.wait_answer("www.health.test.", "SERVFAIL", 3)
        self.a.status = self.b.status = 200
        self.wait_answer("www.health.test.", ["192.0.2.1"], 3)

    def test_4_tls_verification_on_by_default(self):
        # The self-signed certificate fails verification (region a down); the
        # opt-out probe (region b) is up.
        self.wait_answer("tls.health.test.", ["198.51.100.11"], 3)
        self.assertRegex(self.srv.read_log(), r"https 127\.0\.0\.4:\d+ is down: .*(certificate|SSL)")

    def test_5_tcp_connect(self):
        self.wait_answer("tcp.health.test.", ["192.0.2.21"], 3)
        self.tcp.close()
        self.wait_answer("tcp.health.test.", [], 3)  # all_down nodata
        self.tcp.open()
        self.wait_answer("tcp.health.test.", ["192.0.2.21"], 3)

    def test_6_dns_probe_rcode(self):
        # The probe expects NXDOMAIN (configured), so NOERROR counts as a failure.
        self.wait_answer("dns.health.test.", ["198.51.100.31"], 3)
        self.assertIn("is down: DNS rcode 0", self.srv.read_log())
        self.dns.rcode = 3
        self.wait_answer("dns.health.test.", ["192.0.2.31"], 3)
        self.assertEqual(self.dns.last_qtype, 28)  # AAAA, as configured

    def test_7_dns_probe_expects_an_answer(self):
        self.dns.rcode = 0
        self.wait_answer("dnsans.health.test.", ["198.51.100.41"], 3)  # NOERROR, but no records
        self.assertIn("is down: DNS answer has no records", self.srv.read_log())
        self.dns.with_answer = True
        self.wait_answer("dnsans.health.test.", ["192.0.2.41"], 3)


class Persistence(unittest.TestCase):
    def test_state_survives_kill_9(self):
        port = free_tcp_port("127.0.0.6")
        a, b = HttpBackend("127.0.0.6", port), HttpBackend("127.0.0.7", port)
        b.load = "35/50"  # current/capacity: 70%
        cfg = {
            "regions": {"a": {}, "b": {}},
            "health": {"database": "state", "max_age_s": 3600, "min_ttl": 1},
            "probes": {"web": {"type": "http", "port": port, "interval_ms": 200, "timeout_ms": 150,
                               "rise": 2, "fall": 2, "jitter": 0, "load": {"header": "X-Load"}}},
            "pools": {"web": {"ttl": 30, "probe": "web", "regions": {
                "a": {"members": [{"address": "192.0.2.1", "target": "127.0.0.6"}]},
                "b": {"members": [{"address": "198.51.100.1", "target": "127.0.0.7"}]}}}},
            "policies": {"failover": {"steps": [{"step": "up"}]}},
            "bindings": [{"name": "www.health.test", "pool": "web", "policy": "failover"}],
        }
        srv = Server(zones=[("health.test", "health.test.zone")], config_extra=cfg).start()
        try:
            def www():
                r = dns.query.udp(dns.message.make_query("www.health.test.", "A"), srv.host, port=srv.port, timeout=2)
                return [x.to_text() for rr in r.answer for x in rr]
            deadline = time.monotonic() + 3
            while www() != ["192.0.2.1"] and time.monotonic() < deadline:
                time.sleep(0.05)
            a.status = 503
            deadline = time.monotonic() + 3
            while www() != ["198.51.100.1"] and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(www(), ["198.51.100.1"])
            srv.kill9()  # while a is down
            srv.start()
            # Without the persisted state a would start "up" and be answered for ~2 intervals.
            self.assertEqual(www(), ["198.51.100.1"], srv.read_log())
            out = subprocess.run([GEODNSD, "status", "--config", srv.config_path], capture_output=True, text=True,
                                 timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertRegex(out.stdout, r"down .*http 127\.0\.0\.6:\d+/  \[HTTP status 503\]")
            self.assertRegex(out.stdout, r"up .* 70%  http 127\.0\.0\.7:\d+/")
            out = subprocess.run([GEODNSD, "explain", "--config", srv.config_path, "--name", "www.health.test",
                                  "--client", "192.0.2.99"], capture_output=True, text=True, timeout=30)
            self.assertIn("health:   a 192.0.2.1 down (dropped: down)", out.stdout)
            self.assertIn("health:   b 198.51.100.1 up (kept)", out.stdout)
            self.assertIn("chosen:   region b", out.stdout)
        finally:
            srv.stop()
            a.stop()
            b.stop()


if __name__ == "__main__":
    unittest.main()
