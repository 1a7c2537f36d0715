"""scripts/demo (the compose topology on loopback: geodnsd, three backends,
Unbound with ECS) runs from one command and shows each subnet its region."""
import os
import subprocess
import unittest

from harness import GEODNSD, require_tools

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


if __name__ == "__main__":
    unittest.main()
