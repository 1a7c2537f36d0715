"""scripts/demo (the compose topology on loopback: geodnsd, three backends,
Unbound with ECS) runs from one command and shows each subnet its region;
scripts/demo --cluster (docker/compose.cluster.yml on loopback: 3 etcd members,
2 geodnsd nodes) shows a drain through one node move the other's answer; and
docker/compose.cluster.yml agrees with its node configs, which pass check-config."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from admin_client import write_token_file
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


class DockerCluster(unittest.TestCase):
    """docker/compose.cluster.yml and its node configs agree, and the node configs pass
    check-config (with the container's state paths moved into a temp dir). Docker
    itself is not needed: this reads the files."""

    def setUp(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("python3-yaml not installed (scripts/install-deps installs it)")
        with open(os.path.join(ROOT, "docker/compose.cluster.yml")) as f:
            self.compose = yaml.safe_load(f)
        self.services = self.compose["services"]

    def address(self, name):
        return self.services[name]["networks"]["fleet"]["ipv4_address"]

    def flag(self, name, flag):
        cmd = self.services[name]["command"]
        return cmd[cmd.index(flag) + 1]

    def node_config(self, name):
        vols = self.services[name]["volumes"]
        self.assertIn("./cluster:/etc/geodnsd/cluster:ro", vols)
        path = self.services[name]["command"][self.services[name]["command"].index("--config") + 1]
        self.assertTrue(path.startswith("/etc/geodnsd/cluster/"), path)
        with open(os.path.join(ROOT, "docker/cluster", os.path.basename(path))) as f:
            return json.load(f)

    def test_compose_topology(self):
        etcd = ["etcd-1", "etcd-2", "etcd-3"]
        clients = ["http://%s:2379" % self.address(e) for e in etcd]
        peers = ",".join("%s=http://%s:2380" % (e, self.address(e)) for e in etcd)
        for e in etcd:
            self.assertEqual(self.services[e]["build"]["dockerfile"], "docker/etcd.Dockerfile")
            self.assertEqual(self.flag(e, "--name"), e)
            self.assertEqual(self.flag(e, "--advertise-client-urls"), "http://%s:2379" % self.address(e))
            self.assertEqual(self.flag(e, "--initial-advertise-peer-urls"), "http://%s:2380" % self.address(e))
            self.assertEqual(self.flag(e, "--initial-cluster"), peers)
        backends = {self.address(b) for b in ("backend-us", "backend-eu", "backend-ap")}
        names = set()
        for n in ("node-a", "node-b"):
            self.assertEqual(self.services[n]["build"]["dockerfile"], "docker/Dockerfile")
            cfg = self.node_config(n)
            self.assertEqual(cfg["cluster"]["etcd"], clients)
            self.assertEqual(cfg["cluster"]["prefix"], "/geodnsd-demo/")
            names.add(cfg["cluster"]["node"])
            members = {m["address"] for r in cfg["pools"]["www"]["regions"].values() for m in r["members"]}
            self.assertEqual(members, backends)
        self.assertEqual(names, {"node-a", "node-b"})
        for path in ("docker/etcd.Dockerfile", "docker/Dockerfile", "docker/cluster/gslb.demo.test.zone",
                     "examples/demo/backend.py"):
            self.assertTrue(os.path.exists(os.path.join(ROOT, path)), path)

    def test_node_configs_pass_check_config(self):
        for n in ("node-a", "node-b"):
            cfg = self.node_config(n)
            with tempfile.TemporaryDirectory(prefix="geodns-cluster-cfg-") as d:
                # The container's /var/lib/geodnsd (state and the entrypoint's token) here.
                cfg["health"]["database"] = os.path.join(d, "state")
                cfg["admin"]["token_file"] = os.path.join(d, "admin.token")
                cfg["zones"][0]["file"] = os.path.join(ROOT, "docker/cluster", cfg["zones"][0]["file"])
                write_token_file(d)
                path = os.path.join(d, n + ".json")
                with open(path, "w") as f:
                    json.dump(cfg, f)
                p = subprocess.run([GEODNSD, "check-config", "--config", path],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
