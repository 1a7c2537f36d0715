"""Command line, config errors, check-config and SIGHUP reloads."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import dns.message
import dns.query
import dns.rcode

from harness import GEODNSD, ZONES, TRANSPORTS, Server, free_port

GOOD = """$ORIGIN reload.test.
$TTL 300
@   SOA ns.reload.test. h.reload.test. {serial} 1 1 1 60
    NS  ns.reload.test.
ns  A   192.0.2.1
www A   {addr}
"""


def run(*args):
    return subprocess.run([GEODNSD, *args], capture_output=True, text=True, timeout=30)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


class Reload(unittest.TestCase):
    def setUp(self):
        self.srv = Server(zones=[("reload.test", "reload.test.zone")],
                          zone_files={"reload.test.zone": GOOD.format(serial=1, addr="192.0.2.10")}).start()
        self.zone_path = os.path.join(self.srv.dir, "reload.test.zone")

    def tearDown(self):
        self.srv.stop()

    def www(self, t="udp"):
        r = self.srv.ask("www.reload.test.", "A", t)
        return r.answer[0][0].address

    def test_sighup_reloads_zone(self):
        with open(self.zone_path, "w") as f:
            f.write(GOOD.format(serial=2, addr="192.0.2.20"))
        self.srv.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.www() == "192.0.2.20"), self.srv.read_log())
        for t in TRANSPORTS:
            self.assertEqual(self.www(t), "192.0.2.20")

    def test_broken_zone_keeps_old_data(self):
        with open(self.zone_path, "w") as f:
            f.write(GOOD.format(serial=3, addr="192.0.2.30") + "bad IN A 999.1.1.1\nalso IN CNAME www\nalso IN A 192.0.2.1\n")
        self.srv.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload failed" in self.srv.read_log()), self.srv.read_log())
        log = self.srv.read_log()
        self.assertIn("reload.test.zone:7", log)  # file:line of the bad A
        self.assertIn("CNAME beside other data", log)
        for t in TRANSPORTS:
            self.assertEqual(self.www(t), "192.0.2.10")  # old snapshot still serving

    def test_queries_answered_during_reloads(self):
        # Reload repeatedly while querying: no query may go unanswered, and
        # each reload must really happen (its data served, a "reloaded:" line).
        deadline = time.monotonic() + 2.0
        n = reloads = 0
        serial = 10
        while time.monotonic() < deadline or reloads < 5:
            serial += 1
            addr = "192.0.2.%d" % (serial % 200)
            with open(self.zone_path, "w") as f:
                f.write(GOOD.format(serial=serial, addr=addr))
            self.srv.signal(signal.SIGHUP)
            reloads += 1
            served_by = time.monotonic() + 5
            while True:  # query until the new zone answers; every query answered meanwhile
                q = dns.message.make_query("www.reload.test.", "A")
                r = dns.query.udp(q, self.srv.host, port=self.srv.port, timeout=1.0)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                n += 1
                if r.answer[0][0].address == addr:
                    break
                self.assertLess(time.monotonic(), served_by, "reload %d never took effect" % reloads)
        self.assertGreaterEqual(reloads, 5)
        self.assertGreater(n, reloads)  # queries ran while reloads were under way
        self.assertEqual(self.srv.read_log().count("reloaded:"), reloads, self.srv.read_log())
        for t in TRANSPORTS:
            self.assertEqual(self.www(t), addr)


class CommandLine(unittest.TestCase):
    def test_help_lists_every_flag(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--config", "--listen", "--zone", "--workers", "--max-udp-payload", "--log-level",
                     "check-config", "--version"):
            self.assertIn(flag, r.stdout)

    def test_unknown_flag(self):
        r = run("--bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown argument '--bogus'", r.stderr)

    def test_check_config_ok(self):
        cfg = os.path.join(os.path.dirname(__file__), "../../examples/geodnsd.json")
        r = run("check-config", "--config", cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("config OK", r.stdout)

    def test_check_config_reports_every_zone_error_with_line(self):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "bad.zone"), "w") as f:
            f.write("$ORIGIN bad.test.\n$TTL 60\n"
                    "@ SOA ns.bad.test. h.bad.test. 1 1 1 1 1\n"   # 3
                    "www A 192.0.2.1\n"                              # 4 (no NS at apex)
                    "x A not-an-address\n"                           # 5
                    "www.other.test. A 192.0.2.2\n"                  # 6 out of zone
                    "c CNAME www\n"                                  # 7
                    "c TXT \"beside\"\n"                             # 8
                    "d NS ns.d.bad.test.\n"                          # 9
                    "x.d TXT \"occluded\"\n"                         # 10
                    "y MX\n")                                        # 11
        cfg = {"listen": ["127.0.0.1:1"], "zones": [{"origin": "bad.test", "file": "bad.zone"}]}
        with open(os.path.join(d, "c.json"), "w") as f:
            json.dump(cfg, f)
        r = run("check-config", "--config", os.path.join(d, "c.json"))
        self.assertEqual(r.returncode, 1)
        err = r.stderr
        for expect in ("bad.zone:5:", "bad.zone:6: www.other.test. is outside zone bad.test.",
                       "bad.zone:7: CNAME beside other data", "bad.zone:10: data below the delegation",
                       "bad.zone:11:", "has no NS records at its apex"):
            self.assertIn(expect, err)

    def test_include_relative_to_file(self):
        d = tempfile.mkdtemp()
        os.mkdir(os.path.join(d, "parts"))
        with open(os.path.join(d, "parts", "hosts.inc"), "w") as f:
            f.write("www A 192.0.2.7\n")
        with open(os.path.join(d, "parts", "main.zone"), "w") as f:
            f.write("$ORIGIN inc.test.\n$TTL 60\n@ SOA ns h 1 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n"
                    "$INCLUDE hosts.inc\n")
        port = free_port()
        p = subprocess.Popen([GEODNSD, "--listen", "127.0.0.1:%d" % port,
                              "--zone", "inc.test=" + os.path.join(d, "parts", "main.zone")],
                             stderr=subprocess.PIPE)
        try:
            def ok():
                try:
                    r = dns.query.udp(dns.message.make_query("www.inc.test.", "A"), "127.0.0.1",
                                      port=port, timeout=0.2)
                    return r.answer and r.answer[0][0].address == "192.0.2.7"
                except Exception:
                    return False
            self.assertTrue(wait_for(ok))
        finally:
            os.kill(p.pid, signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), 0)

    def test_unknown_json_key_named_by_path(self):
        d = tempfile.mkdtemp()
        cfg = {"listen": ["127.0.0.1:1"], "zones": [{"origin": "a.test", "file": "x", "flie": 1}],
               "limits": {"max_udp_payload": 100, "tcp_idle": 3}, "wokers": 2}
        with open(os.path.join(d, "c.json"), "w") as f:
            json.dump(cfg, f)
        r = run("check-config", "--config", os.path.join(d, "c.json"))
        self.assertEqual(r.returncode, 1)
        for expect in ("/zones/0/flie: unknown key", "/limits/tcp_idle: unknown key", "/wokers: unknown key",
                       "/limits/max_udp_payload: must be between 512 and 65535"):
            self.assertIn(expect, r.stderr)

    def test_json_syntax_error_has_line(self):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "c.json"), "w") as f:
            f.write('{\n  "listen": ["127.0.0.1:1"],\n  "zones": [,]\n}\n')
        r = run("check-config", "--config", os.path.join(d, "c.json"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("c.json:3:", r.stderr)

    def test_ipv6_listener(self):
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        srv = Server(listen_v6=True).start()
        try:
            for t in TRANSPORTS:
                q = dns.message.make_query("www.example.test.", "A")
                fn = dns.query.udp if t == "udp" else dns.query.tcp
                r = fn(q, "::1", port=srv.port, timeout=2)
                self.assertEqual(r.answer[0][0].address, "192.0.2.10")
        finally:
            srv.stop()

    def test_wildcard_listener_answers_from_the_address_asked(self):
        # Listening on 0.0.0.0, a reply must come from the address the query
        # was sent to, or a client (or firewall) drops it. Traffic stays on
        # 127.0.0.0/8: the queries go to 127.0.0.2 and 127.0.0.3.
        srv = Server()
        with open(srv.config_path) as f:
            cfg = json.load(f)
        cfg["listen"] = ["0.0.0.0:%d" % srv.port]
        with open(srv.config_path, "w") as f:
            json.dump(cfg, f)
        srv.start()
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(2)
            for dst in ("127.0.0.2", "127.0.0.3", "127.0.0.1"):
                q = dns.message.make_query("www.example.test.", "A")
                s.sendto(q.to_wire(), (dst, srv.port))
                data, src = s.recvfrom(65535)
                self.assertEqual(src, (dst, srv.port))
                r = dns.message.from_wire(data)
                self.assertEqual((r.id, r.answer[0][0].address), (q.id, "192.0.2.10"))
                tcp = dns.query.tcp(q, dst, port=srv.port, timeout=2)
                self.assertEqual(tcp.answer[0][0].address, "192.0.2.10")
            s.close()
        finally:
            srv.stop()

    def test_sigterm_exits_zero(self):
        srv = Server().start()
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=10), 0)
        srv.stop()


class Logging(unittest.TestCase):
    def test_json_log_lines_and_the_sampled_query_log(self):
        srv = Server(config_extra={"log": {"format": "json", "query_log": {"file": "queries.log", "sample": 1}},
                                   "workers": 1})
        srv.start()
        try:
            import dns.edns
            q = dns.message.make_query("www.example.test.", "A", use_edns=0,
                                       options=[dns.edns.ECSOption("198.51.100.7", 24)])
            srv.query(q, "udp")
            srv.ask("nope.example.test.", "AAAA", transport="tcp")
            qlog = os.path.join(srv.dir, "queries.log")
            lines = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if os.path.exists(qlog):
                    with open(qlog) as f:
                        lines = [json.loads(l) for l in f if l.strip()]
                if any(l["name"] == "nope.example.test." for l in lines):
                    break
                time.sleep(0.1)
            www = [l for l in lines if l["name"] == "www.example.test."][0]
            self.assertEqual((www["client"], www["ecs"], www["type"], www["rcode"], www["transport"]),
                             ("127.0.0.1", "198.51.100.0/24", "A", "NOERROR", "udp"))
            nope = [l for l in lines if l["name"] == "nope.example.test."][0]
            self.assertEqual((nope["type"], nope["rcode"], nope["transport"]), ("AAAA", "NXDOMAIN", "tcp"))
        finally:
            srv.stop()
        for line in srv_log_lines(srv):
            entry = json.loads(line)  # every line of the server's log is one JSON object
            self.assertEqual(set(entry), {"ts", "level", "msg"})
        self.assertTrue(any(json.loads(l)["msg"].startswith("ready:") for l in srv_log_lines(srv)))

    def test_log_format_flag_and_bad_values(self):
        p = subprocess.run([GEODNSD, "--log-format", "xml", "--listen", "127.0.0.1:1"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--log-format", p.stderr)


def srv_log_lines(srv):
    return [l for l in getattr(srv, "final_log", "").splitlines() if l.strip()]


@unittest.skipUnless(os.geteuid() == 0, "needs root to switch users")
class DropPrivileges(unittest.TestCase):
    def test_user_flag_switches_to_the_user_after_binding(self):
        srv = Server(config_extra={"health": {"database": "state"}})
        os.chmod(srv.dir, 0o755)
        srv.extra_args = ["--user", "nobody"]
        srv.start()
        try:
            with open("/proc/%d/status" % srv.proc.pid) as f:
                uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
            import pwd
            nobody = pwd.getpwnam("nobody").pw_uid
            self.assertEqual([int(u) for u in uids], [nobody] * 4)
            self.assertEqual(srv.ask("www.example.test.", "A").answer[0][0].address, "192.0.2.10")
            self.assertIn("running as user nobody", srv.read_log())
            self.assertEqual(os.stat(os.path.join(srv.dir, "state")).st_uid, nobody)
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
