"""check-config is the gate of the systemd unit (ExecStartPre): it refuses what
the server refuses at start, with the server's own message, lists every error
of a config in one run, and runs beside a running server without disturbing it."""
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest

from admin_client import write_token_file
from harness import GEODNSD, Server, free_port

ZONE = """$ORIGIN a.test.
$TTL 60
@    SOA ns h 1 3600 600 86400 60
@    NS  ns
ns   A   192.0.2.1
www  A   192.0.2.5
"""

AS_ROOT = os.geteuid() == 0
NOBODY = pwd.getpwnam("nobody")


def demote():
    """Runs the child as nobody when the tests run as root: root passes every
    permission check, so 'unwritable' would mean nothing to it."""
    if AS_ROOT:
        os.setgroups([])
        os.setgid(NOBODY.pw_gid)
        os.setuid(NOBODY.pw_uid)


def run(args, as_user=False, timeout=20):
    return subprocess.run([GEODNSD, *args], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=demote if as_user else None)


def error_lines(stderr):
    """The server's error lines, without the closing count."""
    return [l for l in stderr.splitlines()
            if l.startswith("geodnsd: ") and "error(s); nothing served" not in l]


class Dir:
    """A config directory readable by nobody (for the demoted runs)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="geodnsd-cc-")
        os.chmod(self.path, 0o755)

    def write(self, name, text, mode=0o644):
        p = os.path.join(self.path, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def config(self, cfg):
        return self.write("geodnsd.json", json.dumps(cfg, indent=2))

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


def base_config(port):
    return {"listen": ["127.0.0.1:%d" % port], "workers": 1,
            "zones": [{"origin": "a.test", "file": "a.zone"}]}


class EveryErrorInOneRun(unittest.TestCase):
    def test_json_zone_binding_geo_listener_and_token_errors_together(self):
        d = Dir()
        try:
            d.write("a.zone", ZONE + "bad  A   999.1.1.1\n")  # line 7
            d.write("admin.token", "ops:short\n", 0o600)
            # One error of each kind; each used to hide the ones checked after it.
            text = """{
  "listen": ["127.0.0.1:5300", "127.0.0.1:5300"],
  "workers": "two",
  "zones": [{"origin": "a.test", "file": "a.zone"}],
  "regions": {"eu": {}},
  "pools": {"web": {"regions": {"us": {"members": [{"address": "192.0.2.9"}]}}}},
  "policies": {"pol": {"steps": [], "colour": "blue"}},
  "bindings": [{"name": "www.a.test", "pool": "web", "policy": "pol"},
               {"name": "www.b.test", "pool": "web", "policy": "pol"}],
  "geo": {"databases": [{"file": "missing.mmdb"}]},
  "health": {"database": "state"},
  "admin": {"listen": "127.0.0.1:5301", "token_file": "admin.token"}
}
"""
            cfg = d.write("geodnsd.json", text)
            r = run(["check-config", "--config", cfg])
            self.assertEqual(r.returncode, 1, r.stderr)
            err = r.stderr
            for expect in (
                    cfg + ":3:14 /workers: expected a non-negative integer",
                    cfg + ":6:39 /pools/web/regions/us: unknown region 'us'",
                    cfg + ":7:47 /policies/pol/colour: unknown key 'colour'",
                    os.path.join(d.path, "a.zone") + ":7:",
                    cfg + ":8:16 /bindings/0/name: www.a.test. is bound to a pool, but the zone file "
                          "also has A records there",
                    cfg + ":9:16 /bindings/1/name: 'www.b.test' is not inside any loaded zone",
                    cfg + ":10:25 /geo/databases/0/file: " + os.path.join(d.path, "missing.mmdb") +
                    ": cannot open geo database",
                    cfg + ":2:32 /listen/1: listener 127.0.0.1:5300 takes the TCP port of 127.0.0.1:5300",
                    cfg + ":12:55 /admin/token_file: " + os.path.join(d.path, "admin.token") +
                    ":1: a token needs a name and a secret of at least 16 bytes"):
                self.assertIn(expect, err)
            self.assertNotIn("config OK", r.stdout)
        finally:
            d.remove()


class RefusedAtStart(unittest.TestCase):
    """Each config is started for real: the server must refuse it, and
    check-config must refuse it too, with every one of the server's lines."""

    def refused_by_both(self, cfg, d, as_user=False, args=()):
        path = d.config(cfg)
        served = run(["--config", path, *args], as_user=as_user)
        self.assertEqual(served.returncode, 1, "the server started:\n" + served.stderr)
        server_says = error_lines(served.stderr)
        self.assertTrue(server_says, served.stderr)
        checked = run(["check-config", "--config", path, *args], as_user=as_user)
        self.assertEqual(checked.returncode, 1, checked.stdout + checked.stderr)
        for line in server_says:
            self.assertIn(line, checked.stderr.splitlines())
        return server_says

    def setUp(self):
        self.d = Dir()
        self.d.write("a.zone", ZONE)
        self.port = free_port()

    def tearDown(self):
        self.d.remove()

    def test_token_file_with_a_short_secret(self):
        self.d.write("admin.token", "ops:0123456789abcdef\nci:short\n", 0o600)
        cfg = base_config(self.port)
        cfg.update({"health": {"database": "state"},
                    "admin": {"listen": "127.0.0.1:%d" % free_port(), "token_file": "admin.token"}})
        lines = self.refused_by_both(cfg, self.d)
        self.assertTrue(any("admin.token:2: a token needs a name and a secret of at least 16 bytes" in l
                            and "/admin/token_file" in l for l in lines), lines)

    def test_missing_token_file(self):
        cfg = base_config(self.port)
        cfg.update({"health": {"database": "state"},
                    "admin": {"listen": "127.0.0.1:%d" % free_port(), "token_file": "nope.token"}})
        lines = self.refused_by_both(cfg, self.d)
        self.assertTrue(any("nope.token: cannot read the admin token file" in l for l in lines), lines)

    def test_unwritable_state_directory(self):
        state = os.path.join(self.d.path, "state")
        os.mkdir(state, 0o555)
        os.chmod(state, 0o555)
        if AS_ROOT:
            os.chown(state, NOBODY.pw_uid, NOBODY.pw_gid)
        cfg = base_config(self.port)
        cfg["health"] = {"database": "state"}
        lines = self.refused_by_both(cfg, self.d, as_user=True)
        self.assertTrue(any("/health/database: " + state + ": cannot open the health state database: "
                            "Permission denied" in l for l in lines), lines)

    def test_state_directory_that_cannot_be_created(self):
        self.d.write("plain", "a file, not a directory")
        cfg = base_config(self.port)
        cfg["health"] = {"database": "plain/state"}
        lines = self.refused_by_both(cfg, self.d)
        self.assertTrue(any("cannot open the health state database" in l for l in lines), lines)

    def test_query_log_that_cannot_be_opened(self):
        logs = os.path.join(self.d.path, "logs")
        os.mkdir(logs)
        os.chmod(logs, 0o555)
        cfg = base_config(self.port)
        cfg["log"] = {"query_log": {"file": "logs/queries.log"}}
        lines = self.refused_by_both(cfg, self.d, as_user=True)
        self.assertTrue(any("/log/query_log/file: " + logs + "/queries.log: cannot open the query log: "
                            "Permission denied" in l for l in lines), lines)

    def test_admin_api_on_a_dns_port(self):
        self.d.write("admin.token", "ops:0123456789abcdef\n", 0o600)
        cfg = base_config(self.port)
        cfg.update({"health": {"database": "state"},
                    "admin": {"listen": "127.0.0.1:%d" % self.port, "token_file": "admin.token"}})
        lines = self.refused_by_both(cfg, self.d)
        self.assertTrue(any("/admin/listen: the admin API's listener" in l for l in lines), lines)

    def test_a_listener_twice(self):
        cfg = base_config(self.port)
        cfg["listen"] = ["127.0.0.1:%d" % self.port] * 2
        self.refused_by_both(cfg, self.d)

    def test_port_53_without_the_capability(self):
        cfg = base_config(self.port)
        cfg["listen"] = ["127.0.0.1:53"]  # bound by nobody: no CAP_NET_BIND_SERVICE
        lines = self.refused_by_both(cfg, self.d, as_user=True)
        self.assertTrue(any("binding 127.0.0.1:53 needs CAP_NET_BIND_SERVICE" in l for l in lines), lines)

    def test_unknown_user(self):
        lines = self.refused_by_both(base_config(self.port), self.d, args=("--user", "no-such-user-gd"))
        self.assertIn("geodnsd: --user no-such-user-gd: no such user", lines)


class BesideARunningServer(unittest.TestCase):
    def test_check_config_passes_while_the_server_holds_its_ports_and_database(self):
        admin_port = free_port()
        srv = Server(zones=[("a.test", "a.zone")], zone_files={"a.zone": ZONE},
                     config_extra={"health": {"database": "state"},
                                   "admin": {"listen": "127.0.0.1:%d" % admin_port,
                                             "token_file": "admin.token"},
                                   "log": {"query_log": {"file": "queries.log"}}})
        write_token_file(srv.dir)
        srv.start()
        try:
            before = sorted(os.listdir(os.path.join(srv.dir, "state")))
            r = run(["check-config", "--config", srv.config_path])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("config OK", r.stdout)
            self.assertEqual(srv.ask("www.a.test.", "A").answer[0][0].address, "192.0.2.5")
            self.assertIsNone(srv.proc.poll())
            # Nothing written into the server's database directory.
            self.assertEqual(sorted(os.listdir(os.path.join(srv.dir, "state"))), before)
        finally:
            srv.stop()


class SystemdUnit(unittest.TestCase):
    def test_exec_start_pre_checks_the_config_exec_start_serves(self):
        unit = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../examples/systemd/geodnsd.service")
        with open(unit) as f:
            lines = [l.strip() for l in f if not l.lstrip().startswith("#")]
        pre = [l.split("=", 1)[1].split() for l in lines if l.startswith("ExecStartPre=")]
        start = [l.split("=", 1)[1].split() for l in lines if l.startswith("ExecStart=")]
        self.assertEqual(len(pre), 1)
        self.assertEqual(len(start), 1)
        self.assertEqual(pre[0][1], "check-config")
        config = lambda argv: argv[argv.index("--config") + 1]
        self.assertEqual(config(pre[0]), config(start[0]))
        self.assertEqual(pre[0][0], start[0][0])


if __name__ == "__main__":
    unittest.main()
