"""A geodnsd fleet on etcd (issue 16): a 3-member etcd cluster and 3 geodnsd
nodes on 127.0.0.2, .3 and .4, all on loopback, every process started here
and stopped by PID.

- a drain through node A changes the answers of B and C within a second;
- kill -9 of the etcd leader loses nothing, and writes go on;
- with every etcd member stopped the nodes keep answering from the last
  applied state, and changes made after etcd returns arrive;
- a backend that only node A sees down stays up by quorum (the backend
  refuses probes whose User-Agent names node a);
- the node leading failover decisions is killed (-9) during a hold-down, and
  the next leader promotes the standby when the first hold-down ends, not a
  whole promote_after after its election.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import dns.message
import dns.query

from admin_client import Api, write_token_file
from backends import HttpBackend
from harness import GEODNSD, Server, find_tool, free_port, skip_suite, stop_process

ZONE = """$ORIGIN fl.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
"""
EU, US = "192.0.2.1", "198.51.100.1"
HA_EU, HA_US = "192.0.2.21", "198.51.100.21"
PROMOTE_AFTER = 10  # s, the "ha" pool's hold-down


# ---- etcd ----

class EtcdMember:
    def __init__(self, name, root):
        self.name = name
        self.client = free_port()
        self.peer = free_port()
        self.data = os.path.join(root, name)
        self.url = "http://127.0.0.1:%d" % self.client
        self.proc = None

    def start(self, etcd, cluster):
        self.log = open(self.data + ".log", "a")
        self.proc = subprocess.Popen(
            [etcd, "--name", self.name, "--data-dir", self.data,
             "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-cluster", cluster, "--initial-cluster-token", "geodns-fleet-test",
             "--heartbeat-interval", "50", "--election-timeout", "500",
             "--listen-metrics-urls", "http://127.0.0.1:%d" % free_port()],
            stdout=self.log, stderr=subprocess.STDOUT)

    def post(self, path, body, timeout=1.0):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()


class EtcdCluster:
    def __init__(self, size=3):
        self.etcd = find_tool("etcd")
        if not self.etcd:
            skip_suite("etcd not installed (scripts/install-deps installs etcd-server)")
        self.root = tempfile.mkdtemp(prefix="geodns-etcd-")
        self.members = [EtcdMember("e%d" % i, self.root) for i in range(size)]
        self.spec = ",".join("%s=http://127.0.0.1:%d" % (m.name, m.peer) for m in self.members)

    def start(self, members=None):
        for m in members or self.members:
            m.start(self.etcd, self.spec)
        self.wait_healthy(members or self.members)

    def wait_healthy(self, members, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(m.post("/v3/kv/range", {"key": "eA=="})["header"] for m in members):
                    return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("etcd not healthy within %ds" % timeout)

    def leader(self):
        for m in self.members:
            if m.proc is None or m.proc.poll() is not None:
                continue
            try:
                st = m.post("/v3/maintenance/status", {})
            except Exception:
                continue
            if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                return m
        return None

    def urls(self):
        return [m.url for m in self.members]

    def stop(self):
        for m in self.members:
            m.stop()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# ---- geodnsd nodes ----

class FleetNode(Server):
    def __init__(self, name, host, etcd_urls, backend_port):
        self.name = name
        self.admin_port = free_port(host)
        cfg = {
            "health": {"database": "state", "quorum": {"min_up": 1, "fraction": 0.5}},
            "admin": {"listen": "%s:%d" % (host, self.admin_port), "token_file": "admin.token"},
            "cluster": {"etcd": etcd_urls, "node": name, "site": "site-" + name,
                        "prefix": "/geodns-test/", "timeout_ms": 1000, "lease_ttl_s": 3},
            "probes": {"web": {"type": "http", "port": backend_port, "path": "/",
                               "interval_ms": 200, "timeout_ms": 200, "rise": 1, "fall": 1}},
            "regions": {"eu": {}, "us": {}},
            "pools": {"web": {"ttl": 5, "regions": {
                "eu": {"members": [{"address": EU, "probe": "web", "target": "127.0.0.1"}]},
                "us": {"members": [{"address": US}]}}},
                "fo": {"ttl": 5, "regions": {
                    "eu": {"members": [{"address": "192.0.2.11"}]},
                    "us": {"members": [{"address": "198.51.100.11"}]}},
                    "failover": {"primary": "eu", "standby": ["us"], "promote_after_s": 30,
                                 "failback_after_s": 60, "failback": "manual"}},
                "ha": {"ttl": 5, "regions": {
                    "eu": {"members": [{"address": HA_EU, "probe": "web", "target": "127.0.0.1"}]},
                    "us": {"members": [{"address": HA_US}]}},
                    "failover": {"primary": "eu", "standby": ["us"], "promote_after_s": PROMOTE_AFTER,
                                 "failback": "manual"}}},
            "policies": {"ordered": {"steps": [{"step": "up"}]},
                         "ap": {"steps": [{"step": "failover"}, {"step": "first_n", "n": 1}]}},
            "bindings": [{"name": "www.fl.test", "pool": "web", "policy": "ordered"},
                         {"name": "fo.fl.test", "pool": "fo", "policy": "ap"},
                         {"name": "ha.fl.test", "pool": "ha", "policy": "ap"}],
        }
        super().__init__(zones=[("fl.test", "fl.test.zone")], zone_files={"fl.test.zone": ZONE},
                         config_extra=cfg)
        # Every node on its own loopback address.
        self.host = host
        self.listen = ["%s:%d" % (host, self.port)]
        with open(self.config_path) as f:
            full = json.load(f)
        full["listen"] = self.listen
        with open(self.config_path, "w") as f:
            json.dump(full, f, indent=2)
        write_token_file(self.dir)
        self.api = Api(self.admin_port)
        self.api.base = "http://%s:%d" % (host, self.admin_port)

    def restart(self):
        """Stops the node by PID and starts it again on the same state database."""
        stop_process(self.proc)
        self.log.close()
        self.start()

    def answer(self, name="www.fl.test."):
        q = dns.message.make_query(name, "A")
        r = dns.query.udp(q, self.host, port=self.port, timeout=1.0)
        return sorted(rr.address for rrset in r.answer for rr in rrset)

    def metric(self, name):
        req = urllib.request.Request(self.api.base + "/metrics")
        req.add_header("Authorization", "Bearer " + self.api.token)
        with urllib.request.urlopen(req, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or (name.endswith("}") and line.startswith(name)):
                    return float(line.split()[1])
        return None


class Backend(HttpBackend):
    """An HTTP probe target that can refuse the probes of chosen nodes."""

    def __init__(self):
        super().__init__("127.0.0.1")
        self.down_for = set()
        backend = self
        handler = self.server.RequestHandlerClass

        class PerNode(handler):
            def do_GET(self):
                ua = self.headers.get("User-Agent", "")
                if any("(node %s)" % n in ua for n in backend.down_for):
                    body = b"down for this vantage"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                handler.do_GET(self)

        self.server.RequestHandlerClass = PerNode


def until(pred, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except Exception:
            pass
        time.sleep(step)
    return False


class FleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(3)
        cls.backend = Backend()
        cls.nodes = []
        try:
            cls.etcd.start()
            for name, host in (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4")):
                n = FleetNode(name, host, cls.etcd.urls(), cls.backend.port)
                cls.nodes.append(n)
                n.start()
            a = cls.nodes[0]
            assert until(lambda: len(a.api.get("/v1/status")[1]["cluster"]["nodes"]) == 3, 15), \
                a.read_log()
            assert until(lambda: all(n.answer() == [EU] for n in cls.nodes), 10)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.stop()
            if os.environ.get("FLEET_DEBUG"):
                print("---- node %s (exit %s)\n%s" % (n.name, n.proc.returncode, n.final_log),
                      file=sys.stderr)
        cls.backend.stop()
        cls.etcd.cleanup()

    def setUp(self):
        self.a, self.b, self.c = self.nodes

    def tearDown(self):
        # Back to "nothing drained" through whichever node works.
        for n in self.nodes:
            try:
                n.api.post("/v1/regions/eu/undrain?wait=all", {"reason": "cleanup"})
                break
            except Exception:
                continue

    def drain_and_time(self, node, others, region="eu", drain=True):
        verb = "drain" if drain else "undrain"
        want = [US] if drain else [EU]
        t0 = time.monotonic()
        st, body, _ = node.api.post("/v1/regions/%s/%s" % (region, verb), {"reason": "fleet test"})
        self.assertEqual(st, 200, body)
        self.assertTrue(body["published"], body)
        self.assertEqual(node.answer(), want)  # the node that took the call, at once
        seen = {}
        deadline = t0 + 5
        while len(seen) < len(others) and time.monotonic() < deadline:
            for o in others:
                if o.name not in seen and o.answer() == want:
                    seen[o.name] = time.monotonic() - t0
            time.sleep(0.002)
        self.assertEqual(sorted(seen), sorted(o.name for o in others), "not propagated in 5 s")
        return max(seen.values()), body

    def test_1_drain_on_a_reaches_b_and_c_within_a_second(self):
        elapsed, body = self.drain_and_time(self.a, [self.b, self.c])
        self.assertLess(elapsed, 1.0)
        self.assertIn("revision", body)
        # The audit record went with it, readable from any node.
        st, audit, _ = self.c.api.get("/v1/audit?limit=5")
        self.assertEqual(st, 200)
        self.assertEqual(audit["entries"][-1]["action"], "drain_region")
        # Status on B shows the drain and every node with its applied revision.
        st, status, _ = self.b.api.get("/v1/status")
        eu = [r for p in status["pools"] for r in p["regions"] if r["name"] == "eu"][0]
        self.assertTrue(eu["drained"])
        names = sorted(n["name"] for n in status["cluster"]["nodes"])
        self.assertEqual(names, ["a", "b", "c"])
        self.assertTrue(status["cluster"]["connected"])
        # ?wait=all: every live node has applied it.
        st, body, _ = self.b.api.post("/v1/regions/eu/undrain?wait=all", {"reason": "back"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["behind"], [])
        self.assertEqual(sorted(body["applied_by"]), ["a", "b", "c"])
        # Undraining what is not drained changes nothing: answered at once, not
        # after waiting for an apply that never comes (only the audit record is new).
        t = time.monotonic()
        st, body, _ = self.b.api.post("/v1/regions/eu/undrain?wait=all", {"reason": "again"})
        self.assertEqual(st, 200, body)
        self.assertFalse(body["changed"])
        self.assertTrue(body["published"])
        self.assertEqual(sorted(body["applied_by"]), ["a", "b", "c"])
        self.assertLess(time.monotonic() - t, 1.0)
        for n in self.nodes:
            self.assertEqual(n.answer(), [EU])
        self.assertEqual(self.a.metric("geodns_cluster_connected"), 1)
        # Every fleet metric of docs/admin-api.md is exported, and nothing else
        # geodns_cluster_* is.
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "../../docs/admin-api.md")) as f:
            doc = f.read().split("A fleet node (config `cluster`) also exports", 1)[1]
        documented = set(re.findall(r"`(geodns_cluster_[a-z_]+)`", doc.split("\n\n", 2)[1]))
        self.assertGreater(len(documented), 5)
        for name in documented:
            self.assertIsNotNone(self.a.metric(name), name)
        exported = set(re.findall(r"^(geodns_cluster_[a-z_]+) ", self.a.api.get("/metrics")[1], re.M))
        self.assertEqual(exported, documented)
        self.assertEqual(self.a.metric("geodns_cluster_nodes"), 3)
        # Bad ?wait input is a 400 that changes nothing anywhere.
        for query in ("wait=some", "wait=all&wait_ms=0", "wait=all&wait_ms=x"):
            st, body, _ = self.c.api.post("/v1/regions/eu/drain?" + query, {"reason": "x"})
            self.assertEqual(st, 400, (query, body))
        for n in self.nodes:
            self.assertEqual(n.answer(), [EU])

    def counters(self):
        names = ("geodns_cluster_writes_total", "geodns_cluster_watch_events_total",
                 "geodns_cluster_watch_bytes_total")
        return [[n.metric(m) for m in names] for n in self.nodes]

    def rates(self, before, after, seconds):
        return ["%s: %.2f writes/s, %.1f events/s, %.0f B/s" %
                (n.name, (a[0] - b[0]) / seconds, (a[1] - b[1]) / seconds, (a[2] - b[2]) / seconds)
                for n, b, a in zip(self.nodes, before, after)]

    def test_2_propagation_p99(self):
        """Drain and undrain through rotating nodes; p99 of the time until
        both other nodes answer accordingly, and etcd traffic per node
        (bench/RESULTS.md)."""
        before, t0 = self.counters(), time.monotonic()
        time.sleep(5)
        idle = self.rates(before, self.counters(), time.monotonic() - t0)
        print("idle, per node: " + "; ".join(idle), file=sys.stderr)
        before, t0 = self.counters(), time.monotonic()
        times = []
        for i in range(int(os.environ.get("FLEET_ROUNDS", "20"))):
            src = self.nodes[i % 3]
            others = [n for n in self.nodes if n is not src]
            t, _ = self.drain_and_time(src, others, drain=(i % 2 == 0))
            times.append(t)
        busy = self.rates(before, self.counters(), time.monotonic() - t0)
        print("during %d drains, per node: %s" % (len(times), "; ".join(busy)), file=sys.stderr)
        times.sort()
        p50 = times[len(times) // 2]
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print("drain propagation over %d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
              % (len(times), p50 * 1000, p99 * 1000, times[-1] * 1000), file=sys.stderr)
        self.assertLess(p99, 1.0)

    def test_3_kill9_of_the_etcd_leader_loses_nothing(self):
        st, body, _ = self.a.api.post("/v1/regions/eu/drain?wait=all", {"reason": "before kill"})
        self.assertEqual(st, 200, body)
        leader = self.etcd.leader()
        self.assertIsNotNone(leader)
        leader.kill9()
        try:
            for n in self.nodes:
                self.assertEqual(n.answer(), [US])
            # Writes go on once the other two elect a leader; the committed
            # drain is still there (the undrain finds it: changed).
            def undrain():
                st, body, _ = self.b.api.post("/v1/regions/eu/undrain?wait=all", {"reason": "after"})
                return st == 200 and body["changed"] and not body["behind"]
            self.assertTrue(until(undrain, 15, step=0.2))
            for n in self.nodes:
                self.assertEqual(n.answer(), [EU])
        finally:
            self.etcd.start([leader])

    def test_4_etcd_fully_stopped_nodes_keep_the_last_state(self):
        st, body, _ = self.c.api.post("/v1/regions/eu/drain?wait=all", {"reason": "before outage"})
        self.assertEqual(st, 200, body)
        self.etcd.stop()
        try:
            self.assertTrue(until(lambda: self.a.metric("geodns_cluster_connected") == 0, 20))
            for n in self.nodes:
                self.assertEqual(n.answer(), [US])  # the drain holds: fail static
            st, body, _ = self.a.api.post("/v1/regions/eu/undrain", {"reason": "during outage"})
            self.assertEqual(st, 503, body)
            for n in self.nodes:
                self.assertEqual(n.answer(), [US])
            # A restart during the outage starts from the state database's
            # copy of the last applied shared state.
            self.b.restart()
            self.assertEqual(self.b.answer(), [US])
            self.assertEqual(self.b.metric("geodns_cluster_connected"), 0)
        finally:
            self.etcd.start()
        self.assertTrue(until(lambda: all(n.metric("geodns_cluster_connected") == 1
                                          for n in self.nodes), 30))
        def undrain():
            st, body, _ = self.a.api.post("/v1/regions/eu/undrain?wait=all", {"reason": "after"})
            return st == 200 and not body["behind"]
        self.assertTrue(until(undrain, 20, step=0.2))
        for n in self.nodes:
            self.assertEqual(n.answer(), [EU])

    def test_5_backend_down_only_for_a_stays_up_by_quorum(self):
        self.backend.down_for = {"a"}
        try:
            def a_sees_down():
                st, status, _ = self.a.api.get("/v1/status")
                m = [m for p in status["pools"] for r in p["regions"] for m in r["members"]
                     if m["address"] == EU][0]
                mine = [v for v in m["vantages"] if v["node"] == "a"][0]
                return mine["state"] == "down" and m["quorum"]["voters"] == 3 and m
            ok = until(a_sees_down, 10)
            self.assertTrue(ok, json.dumps(self.a.api.get("/v1/status")[1]["pools"]))
            m = a_sees_down()
            self.assertEqual(m["quorum"]["state"], "up")
            # explain shows the same votes under the member's health.
            st, ex, _ = self.a.api.get("/v1/explain?name=www.fl.test&client=127.0.0.1")
            self.assertEqual(st, 200, ex)
            h = [h for h in ex["health"] if h["address"] == EU][0]
            votes = {v["node"]: v["state"] for v in h["vantages"]}
            self.assertEqual(votes, {"a": "down", "b": "up", "c": "up"}, ex)
            self.assertEqual(m["quorum"]["up"], 2)
            for n in self.nodes:
                self.assertEqual(n.answer(), [EU])  # A too: 2 of 3 vantages see it up
            # Down for two of three: down everywhere, A included.
            self.backend.down_for = {"a", "b"}
            self.assertTrue(until(lambda: all(n.answer() == [US] for n in self.nodes), 10))
        finally:
            self.backend.down_for = set()
        self.assertTrue(until(lambda: all(n.answer() == [EU] for n in self.nodes), 10))

    def test_6_forced_failover_reaches_every_node_once(self):
        st, body, _ = self.a.api.post("/v1/pools/fo/failover?wait=all",
                                      {"region": "us", "reason": "fleet test"})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["failover"]["active_region"], "us")
        for n in self.nodes:
            self.assertEqual(n.answer("fo.fl.test."), ["198.51.100.11"])
        # A restart reads the command again from etcd; the state database
        # already holds it, so it is not applied a second time.
        rev = body["revision"]
        self.c.restart()
        # Applied means published: a command re-applied at start would count by now.
        self.assertTrue(until(lambda: self.c.metric("geodns_cluster_applied_revision") >= rev, 10))
        self.assertEqual(self.c.answer("fo.fl.test."), ["198.51.100.11"])
        self.assertIsNone(self.c.metric('geodns_failovers_total{pool="fo"}'))
        st, body, _ = self.b.api.post("/v1/pools/fo/failback?wait=all", {"reason": "back"})
        self.assertEqual(st, 200, body)
        for n in self.nodes:
            self.assertEqual(n.answer("fo.fl.test."), ["192.0.2.11"])
        self.assertEqual(self.c.metric('geodns_failovers_total{pool="fo"}'), 1)
        st, audit, _ = self.a.api.get("/v1/audit?limit=2")
        self.assertEqual([e["action"] for e in audit["entries"]], ["failover", "failback"])

    def test_7_the_leader_dies_during_a_hold_down_and_the_next_keeps_the_timer(self):
        st, body, _ = self.a.api.post("/v1/pools/ha/failback?wait=all", {"reason": "start on eu"})
        self.assertEqual(st, 200, body)
        self.assertTrue(until(lambda: all(n.answer("ha.fl.test.") == [HA_EU] for n in self.nodes), 10))

        def leaders(nodes):
            return {n.api.get("/v1/status")[1]["cluster"]["leader"] for n in nodes}
        self.assertTrue(until(lambda: len(leaders(self.nodes)) == 1 and leaders(self.nodes) != {""}, 10))
        name = leaders(self.nodes).pop()
        leader = next(n for n in self.nodes if n.name == name)
        others = [n for n in self.nodes if n is not leader]
        try:
            self.backend.down_for = {"a", "b", "c"}
            # Down by quorum everywhere: the leader's hold-down starts now.
            self.assertTrue(until(lambda: all(n.answer() == [US] for n in self.nodes), 10))
            t_down = time.monotonic()
            time.sleep(1.5)  # the leader has written the hold-down's start
            os.kill(leader.proc.pid, signal.SIGKILL)
            leader.proc.wait()
            t_elected = None
            t_promoted = None
            deadline = t_down + 3 * PROMOTE_AFTER
            while time.monotonic() < deadline and t_promoted is None:
                now = time.monotonic()
                if t_elected is None and all(
                        n.api.get("/v1/status")[1]["cluster"]["leader"] not in ("", name) for n in others):
                    t_elected = now
                if all(n.answer("ha.fl.test.") == [HA_US] for n in others):
                    t_promoted = now
                time.sleep(0.05)
            self.assertIsNotNone(t_promoted, "the standby was never promoted")
            self.assertIsNotNone(t_elected, "no new leader")
            elected, promoted = t_elected - t_down, t_promoted - t_down
            print("leader %s killed 1.5 s into the hold-down: new leader after %.1f s, "
                  "standby promoted after %.1f s (promote_after %d s)" % (name, elected, promoted, PROMOTE_AFTER),
                  file=sys.stderr)
            # The hold-down ran on: promoted about promote_after after the
            # health went down, not promote_after after the election.
            self.assertGreater(elected, 1.5)
            self.assertGreater(promoted, PROMOTE_AFTER - 1.5)
            self.assertLess(promoted, elected + PROMOTE_AFTER - 1)
            # Recorded once, by the new leader, in the shared audit log.
            st, audit, _ = others[0].api.get("/v1/audit?limit=5")
            autos = [e for e in audit["entries"] if e["action"] == "auto_failover"]
            self.assertEqual(len(autos), 1, audit)
        finally:
            self.backend.down_for = set()
            leader.restart()
        self.assertTrue(until(lambda: len(leader.api.get("/v1/status")[1]["cluster"]["nodes"]) == 3, 15))
        st, body, _ = self.b.api.post("/v1/pools/ha/failback?wait=all", {"reason": "back to eu"})
        self.assertEqual(st, 200, body)
        self.assertTrue(until(lambda: all(n.answer("ha.fl.test.") == [HA_EU] for n in self.nodes), 10))


if __name__ == "__main__":
    from harness import run_suite
    sys.exit(run_suite(["test_fleet"]))
