"""geodnsctl against a running server: `reload` sends the reload and reports the
server's own errors (exit 1) for a config broken on disk, instead of judging
the file itself."""
import json
import os
import subprocess
import unittest

from admin_client import write_token_file
from harness import GEODNSD, Server, free_port

ZONE = """$ORIGIN ctl.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
www  A   192.0.2.1
"""


def ctl(config_path, *args):
    exe = os.path.join(os.path.dirname(GEODNSD), "geodnsctl")
    cmd = [exe] if os.path.exists(exe) else [GEODNSD, "ctl"]
    p = subprocess.run(cmd + ["--config", config_path, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.admin_port = free_port()
        self.srv = Server(zones=[("ctl.test", "ctl.zone")], zone_files={"ctl.zone": ZONE},
                          config_extra={"health": {"database": "state"},
                                        "admin": {"listen": "127.0.0.1:%d" % self.admin_port,
                                                  "token_file": "admin.token"}})
        write_token_file(self.srv.dir)
        with open(self.srv.config_path) as f:
            self.good = f.read()
        self.srv.start()

    def tearDown(self):
        self.srv.stop()

    def write_config(self, text):
        with open(self.srv.config_path, "w") as f:
            f.write(text)

    def www(self):
        return self.srv.ask("www.ctl.test.", "A").answer[0][0].address

    def test_reload_reports_the_servers_errors_then_succeeds_once_fixed(self):
        cfg = json.loads(self.good)
        cfg["workers"] = "two"                                    # a JSON-level error
        cfg["bindings"] = [{"name": "www.ctl.test", "pool": "nope", "policy": "nope"}]
        text = json.dumps(cfg, indent=2)
        self.write_config(text)
        with open(os.path.join(self.srv.dir, "ctl.zone"), "a") as f:
            f.write("bad  A   999.1.1.1\n")                        # line 7 of the zone
        rc, out, err = ctl(self.srv.config_path, "reload", "--reason", "broken on purpose")
        self.assertEqual(rc, 1, out + err)
        lines = err.splitlines()
        self.assertIn("geodnsctl: HTTP 422: reload failed; the previous config keeps serving", lines)
        workers_line = next(i for i, l in enumerate(text.splitlines(), 1) if '"workers"' in l)
        # One line per server error, each with its place; the zone's errors are
        # there although the JSON has errors too.
        for expect in ("%s:%d:" % (self.srv.config_path, workers_line) + "14 /workers: expected a non-negative integer",
                       "/bindings/0/pool: unknown pool 'nope'",
                       "/bindings/0/policy: unknown policy 'nope'",
                       os.path.join(self.srv.dir, "ctl.zone") + ":7:",
                       "/bindings/0/name: www.ctl.test. is bound to a pool, but the zone file also has A records there"):
            self.assertTrue(any(l.startswith("  ") and expect in l for l in lines), (expect, err))
        self.assertEqual(self.www(), "192.0.2.1")  # the old config keeps serving

        # A config whose JSON breaks after the admin section: still the server's errors.
        self.write_config(self.good.rstrip().rstrip("}") + ',\n  "zones": [,]\n}\n')
        rc, out, err = ctl(self.srv.config_path, "reload")
        self.assertEqual(rc, 1, out + err)
        self.assertIn("geodnsctl: HTTP 422", err)
        self.assertTrue(any(l.startswith("  " + self.srv.config_path + ":") and "syntax error" in l
                            for l in err.splitlines()), err)

        # Fixed: the reload goes through.
        self.write_config(self.good)
        with open(os.path.join(self.srv.dir, "ctl.zone"), "w") as f:
            f.write(ZONE.replace("192.0.2.1", "192.0.2.2"))
        rc, out, err = ctl(self.srv.config_path, "reload", "--reason", "fixed")
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(json.loads(out)["ok"])
        self.assertEqual(self.www(), "192.0.2.2")

    def test_no_admin_section_is_a_usage_error(self):
        cfg = json.loads(self.good)
        del cfg["admin"]
        path = os.path.join(self.srv.dir, "other.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        rc, out, err = ctl(path, "reload")
        self.assertEqual(rc, 2)
        self.assertIn('the config has no "admin" section', err)


if __name__ == "__main__":
    unittest.main()
