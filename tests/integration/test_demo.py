"""scripts/demo (the compose topology on loopback: geodnsd, three backends,
Unbound with ECS) runs from one command and shows each subnet its region;
scripts/demo --cluster (3 etcd members, 2 geodnsd nodes on loopback) shows a
drain through one node move the other's answer."""
import os
import re
import subprocess
import unittest

from harness import GEODNSD, find_tool, require_tools

require_tools("unbound", "dig")  # else the suite is reported skipped

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")


class Demo(unittest.TestCase):
    def test_demo_check(self):
        env = dict(os.environ, GEODNSD=os.path.abspath(GEODNSD))
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts/demo"), "--check", "--no-build"],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for line in ("10.1.0.0/24      127.0.0.21", "10.2.0.0/24      127.0.0.22", "10.3.0.0/24      127.0.0.23",
                     "demo: OK"):
            self.assertIn(line, p.stdout)
        # Everything it started is gone.
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn("geodnsd-demo.", ps)

    @unittest.skipUnless(find_tool("etcd"), "etcd not installed (scripts/install-deps installs etcd-server)")
    def test_demo_cluster_check(self):
        """scripts/demo --cluster: 3 etcd members and 2 geodnsd nodes on loopback; a drain
        through node A's API moves node B's answer within a second, and back."""
        env = dict(os.environ, GEODNSD=os.path.abspath(GEODNSD))
        p = subprocess.run(["bash", os.path.join(ROOT, "scripts/demo"), "--cluster", "--check", "--no-build"],
                           capture_output=True, text=True, timeout=180, env=env)
        out = p.stdout + p.stderr
        try:
            self.assertEqual(p.returncode, 0, out)
            for line in ("10.1.0.0/24      127.0.0.21     127.0.0.21     127.0.0.21",
                         "10.2.0.0/24      127.0.0.22     127.0.0.22     127.0.0.22",
                         "10.3.0.0/24      127.0.0.23     127.0.0.23     127.0.0.23",
                         "demo: OK"):
                self.assertIn(line, p.stdout, out)
            self.assertEqual(p.stdout.splitlines()[-1], "demo: OK", out)
            self.assertIn("drain eu-central through node A's admin API: POST http://127.0.0.31:", p.stdout)
            self.assertIn("undrain eu-central through node B's admin API: POST http://127.0.0.32:", p.stdout)
            for who, want in (("B", "127.0.0.21"), ("A", "127.0.0.22")):
                m = re.search(r"node %s answers 10\.2\.0\.0/24 with %s after (\d+) ms" % (who, re.escape(want)),
                              p.stdout)
                self.assertTrue(m, out)
                self.assertLessEqual(int(m.group(1)), 1000, out)
        finally:
            # Everything it started is gone: etcd members and nodes (their paths are in
            # the demo's temp dir, which is removed too) and the three backends.
            tmp = re.search(r"(/tmp/geodnsd-demo\.\w+)/node-a\.json", p.stdout)
            port = re.search(r"ap-northeast\), port (\d+)", p.stdout)
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            self.assertNotIn("geodnsd-demo.", ps)
            if tmp:
                self.assertFalse(os.path.exists(tmp.group(1)), tmp.group(1))
            if port:
                self.assertNotRegex(ps, r"demo/backend\.py 127\.0\.0\.2\d %s " % port.group(1))


if __name__ == "__main__":
    unittest.main()
