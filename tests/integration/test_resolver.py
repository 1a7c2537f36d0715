"""End to end through a real recursive resolver: Unbound on loopback with a
stub zone pointing at geodnsd and ECS on (subnetcache). Clients query Unbound
with dig from different subnets; Unbound caches per ECS scope (a compiled scope
wider than the client's /24 serves the other /24s inside it from cache, before
and after a health change moves the answer); a drain through the admin API
reaches clients once the cached answers' TTL has run out.

Only loopback is used: Unbound refuses every name outside the test zone
(local-zone "." refuse), so it never contacts a root server."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import dns.edns
import dns.message

from admin_client import Api, write_token_file
from harness import Server, free_port, require_tools, stop_process

UNBOUND, DIG = require_tools("unbound", "dig")  # else the suite is reported skipped
GEOIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../data/geoip/geodns-test-city.mmdb")

ZONE = """$ORIGIN e2e.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 60
@    NS  ns1
ns1  A   127.0.0.1
"""

TTL = 3


def ask_with_ecs(srv, name, addr, prefix):
    """Asks geodnsd directly (not through Unbound) with an ECS option."""
    q = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.ECSOption(addr, prefix)])
    r = srv.query(q, "udp")
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def geodns_config(admin_port, dead_port, flip_port):
    geo_map = {"country:US": ["us", "eu"], "continent:EU": ["eu", "us"], "continent:AS": ["jp", "us"],
               "label:lab": ["us"], "default": ["us"]}
    return {
        "health": {"database": "state"},
        "admin": {"listen": "127.0.0.1:%d" % admin_port, "token_file": "admin.token"},
        "geo": {"databases": [{"file": os.path.abspath(GEOIP)}],
                "nets": {"127.0.2.0/24": {"regions": ["jp"]}, "127.0.0.0/8": {"label": "lab"},
                         # Two nets with one answer: compiled into one /8 (scope 8).
                         "10.0.0.0/9": {"label": "office"}, "10.128.0.0/9": {"label": "office"}}},
        "regions": {"us": {}, "eu": {}, "jp": {}},
        # Probed on a loopback port nothing listens on: down from the start.
        "probes": {"dead": {"type": "tcp", "port": dead_port, "initial": "down"},
                   # Probed on a loopback port the test listens on, then closes.
                   "flip": {"type": "tcp", "port": flip_port, "interval_ms": 500, "timeout_ms": 500,
                            "rise": 1, "fall": 1, "initial": "up"}},
        "pools": {"web": {"ttl": TTL, "regions": {
            "us": {"members": [{"address": "192.0.2.10"}]},
            "eu": {"members": [{"address": "198.51.100.10"}]},
            "jp": {"members": [{"address": "203.0.113.10"}]}}},
            # Data residency: EU clients only ever get eu; all down is NODATA.
            "resident": {"ttl": TTL, "all_down": "nodata", "regions": {
                "eu": {"members": [{"address": "198.51.100.20", "target": "127.0.0.1", "probe": "dead"}]},
                "us": {"members": [{"address": "192.0.2.20"}]}}},
            "office": {"ttl": TTL, "regions": {
                "us": {"members": [{"address": "192.0.2.30", "target": "127.0.0.1", "probe": "flip"}]},
                "eu": {"members": [{"address": "198.51.100.30"}]},
                "jp": {"members": [{"address": "203.0.113.30"}]}}}},
        "policies": {
            "fenced": {"steps": [{"step": "geo_map", "fence": True,
                                  "map": {"continent:EU": ["eu"], "country:US": ["us"], "default": ["us"]}},
                                 {"step": "up"}]},
            "geo": {"steps": [{"step": "geo_map", "map": geo_map}]},
            "office": {"steps": [{"step": "geo_map", "map": {"label:office": ["us", "eu"],
                                                             "default": ["jp"]}},
                                 {"step": "up"}]},
            # Locates by the resolver's own address even when ECS is present.
            "resolver": {"ecs": False, "steps": [{"step": "geo_map", "map": dict(geo_map, **{"label:lab": ["eu"]})}]},
        },
        "bindings": [{"name": "www.e2e.test", "pool": "web", "policy": "geo"},
                     {"name": "fenced.e2e.test", "pool": "resident", "policy": "fenced"},
                     {"name": "res.e2e.test", "pool": "web", "policy": "resolver"},
                     {"name": "hc.e2e.test", "pool": "office", "policy": "office"}],
    }


UNBOUND_CONF = """server:
    interface: 127.0.0.1@{port}
    port: {port}
    outgoing-interface: 127.0.0.1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    qname-minimisation: no
    prefetch: no
    module-config: "subnetcache validator iterator"
    send-client-subnet: 127.0.0.1
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    local-zone: "." refuse
    local-zone: "e2e.test." transparent
    domain-insecure: "e2e.test."
stub-zone:
    name: "e2e.test."
    stub-addr: 127.0.0.1@{geodns_port}
"""


class ThroughUnbound(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin_port = free_port()
        # The "flip" probe's target: up while this socket listens (a thread
        # accepts and closes), down once test_5 closes it.
        cls.flip = socket.socket()
        cls.flip.bind(("127.0.0.1", 0))
        cls.flip.listen(64)
        threading.Thread(target=cls.accept_probes, args=(cls.flip,), daemon=True).start()
        cls.srv = Server(zones=[("e2e.test", "e2e.zone")], zone_files={"e2e.zone": ZONE},
                         config_extra=geodns_config(cls.admin_port, free_port(),
                                                    cls.flip.getsockname()[1]))
        write_token_file(cls.srv.dir)
        cls.srv.start()
        cls.api = Api(cls.admin_port)
        cls.udir = tempfile.mkdtemp(prefix="unbound-it-")
        cls.uport = free_port()
        conf = os.path.join(cls.udir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(UNBOUND_CONF.format(port=cls.uport, dir=cls.udir, geodns_port=cls.srv.port))
        cls.ulog = open(os.path.join(cls.udir, "unbound.log"), "w")
        cls.unbound = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdout=cls.ulog, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if cls.unbound.poll() is not None:
                raise RuntimeError("unbound exited:\n" + open(os.path.join(cls.udir, "unbound.log")).read())
            if cls.dig("e2e.test", "SOA"):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("unbound not answering")

    @staticmethod
    def accept_probes(sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            conn.close()

    @classmethod
    def tearDownClass(cls):
        cls.flip.close()
        stop_process(cls.unbound)
        cls.ulog.close()
        shutil.rmtree(cls.udir, ignore_errors=True)
        cls.srv.stop()

    @classmethod
    def dig(cls, name, rdtype="A", subnet=None, source=None):
        cmd = [DIG, "@127.0.0.1", "-p", str(cls.uport), name, rdtype, "+short", "+tries=1", "+time=3"]
        if subnet:
            cmd.append("+subnet=" + subnet)
        if source:
            cmd += ["-b", source]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=15).stdout
        return [line for line in out.split() if line]

    def upstream_queries(self):
        """A queries geodnsd has answered (from its /metrics)."""
        text = self.api.get("/metrics")[1]
        return sum(int(n) for n in re.findall(r'^geodns_queries_total\{qtype="A",transport="\w+"\} (\d+)$', text, re.M))

    def test_1_each_subnet_gets_its_region_and_unbound_caches_per_scope(self):
        before = self.upstream_queries()
        self.assertEqual(self.dig("www.e2e.test", subnet="198.51.100.7/24"), ["198.51.100.10"])   # DE -> eu
        self.assertEqual(self.upstream_queries(), before + 1)
        # Same /24 (the scope geodnsd returned): from Unbound's cache.
        self.assertEqual(self.dig("www.e2e.test", subnet="198.51.100.99/24"), ["198.51.100.10"])
        self.assertEqual(self.upstream_queries(), before + 1)
        # Other subnets: new upstream queries, their own regions.
        self.assertEqual(self.dig("www.e2e.test", subnet="203.0.113.5/24"), ["203.0.113.10"])     # JP -> jp
        self.assertEqual(self.dig("www.e2e.test", subnet="192.0.2.5/24"), ["192.0.2.10"])         # US -> us
        self.assertEqual(self.upstream_queries(), before + 3)
        # Without ECS from the client: Unbound sends the client's own /24.
        self.assertEqual(self.dig("www.e2e.test", source="127.0.2.1"), ["203.0.113.10"])
        self.assertEqual(self.dig("www.e2e.test", source="127.0.0.1"), ["192.0.2.10"])

    def test_2_a_policy_without_ecs_locates_the_resolver(self):
        # Unbound queries from 127.0.0.1 (label lab -> eu for this policy), whatever the client's subnet.
        self.assertEqual(self.dig("res.e2e.test", subnet="203.0.113.5/24"), ["198.51.100.10"])
        self.assertEqual(self.dig("res.e2e.test", subnet="192.0.2.5/24"), ["198.51.100.10"])

    def test_3_a_drain_reaches_clients_after_the_ttl(self):
        subnet = "198.51.100.44/24"
        self.assertEqual(self.dig("www.e2e.test", subnet=subnet), ["198.51.100.10"])
        # A client located by the resolver's address (no ECS used) is cached too.
        self.assertEqual(self.dig("res.e2e.test", source="127.0.3.1"), ["198.51.100.10"])
        status, body, _ = self.api.post("/v1/regions/eu/drain", {"reason": "e2e"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["answer_ttl_s"], TTL)
        try:
            # geodnsd answers differently at once; Unbound still has the cached answer.
            self.assertEqual(ask_with_ecs(self.srv, "www.e2e.test", "198.51.100.44", 24), ["192.0.2.10"])
            self.assertEqual(self.dig("www.e2e.test", subnet=subnet), ["198.51.100.10"])
            self.assertEqual(self.dig("res.e2e.test", source="127.0.3.1"), ["198.51.100.10"])
            time.sleep(TTL + 1)
            self.assertEqual(self.dig("www.e2e.test", subnet=subnet), ["192.0.2.10"])
            # The resolver-located answer moves too (eu drained: the pool's next region).
            self.assertEqual(self.dig("res.e2e.test", source="127.0.3.1"), ["192.0.2.10"])
        finally:
            self.api.post("/v1/regions/eu/undrain", {"reason": "e2e done"})

    def test_4_a_location_dependent_nodata_is_cached_per_scope(self):
        # The EU client's only region is down: NODATA, scoped to its subnet.
        q = dns.message.make_query("fenced.e2e.test", "A", use_edns=0,
                                   options=[dns.edns.ECSOption("198.51.100.0", 24)])
        r = self.srv.query(q, "udp")
        self.assertEqual((r.rcode(), r.answer), (0, []))
        self.assertEqual([o.scopelen for o in r.options if o.otype == dns.edns.ECS], [24])
        self.assertEqual(self.dig("fenced.e2e.test", subnet="198.51.100.7/24"), [])
        # Through the same Unbound, a US client still gets its answer: Unbound
        # keeps the NODATA for the EU subnet only (scope 0 would serve it to all).
        self.assertEqual(self.dig("fenced.e2e.test", subnet="192.0.2.5/24"), ["192.0.2.20"])
        self.assertEqual(self.dig("fenced.e2e.test", subnet="198.51.100.99/24"), [])

    def test_5_inside_a_compiled_scope_from_cache_and_right_after_a_health_change(self):
        # Office clients (10.0.0.0/8) get us while its member is up, with the
        # compiled /8 as scope: Unbound serves another office /24 from cache.
        def ecs_scope(addr):
            q = dns.message.make_query("hc.e2e.test", "A", use_edns=0,
                                       options=[dns.edns.ECSOption(addr, 24)])
            r = self.srv.query(q, "udp")
            return [o.scopelen for o in r.options if o.otype == dns.edns.ECS]
        self.assertEqual(ecs_scope("10.1.2.0"), [8])
        before = self.upstream_queries()
        self.assertEqual(self.dig("hc.e2e.test", subnet="10.1.2.0/24"), ["192.0.2.30"])
        self.assertEqual(self.upstream_queries(), before + 1)
        self.assertEqual(self.dig("hc.e2e.test", subnet="10.200.7.0/24"), ["192.0.2.30"])
        self.assertEqual(self.upstream_queries(), before + 1)  # from the /8 in Unbound's cache
        self.assertEqual(self.dig("hc.e2e.test", subnet="192.0.2.5/24"), ["203.0.113.30"])
        self.assertEqual(self.upstream_queries(), before + 2)  # outside it: asked
        # The us member goes down (its probe's target stops listening): the
        # decisions recompile; office clients now get eu, still scoped /8.
        self.flip.close()
        deadline = time.monotonic() + 10
        while ask_with_ecs(self.srv, "hc.e2e.test", "10.1.2.0", 24) != ["198.51.100.30"]:
            self.assertLess(time.monotonic(), deadline, "the us member never went down")
            time.sleep(0.1)
        self.assertEqual(ecs_scope("10.1.2.0"), [8])
        time.sleep(TTL + 1)  # Unbound's cached answers expire
        before = self.upstream_queries()
        self.assertEqual(self.dig("hc.e2e.test", subnet="10.200.7.0/24"), ["198.51.100.30"])
        self.assertEqual(self.upstream_queries(), before + 1)
        # Another office /24 inside the new scope: from cache, the new answer.
        self.assertEqual(self.dig("hc.e2e.test", subnet="10.3.4.0/24"), ["198.51.100.30"])
        self.assertEqual(self.dig("hc.e2e.test", subnet="10.129.0.0/24"), ["198.51.100.30"])
        self.assertEqual(self.upstream_queries(), before + 1)
        self.assertEqual(self.dig("hc.e2e.test", subnet="192.0.2.9/24"), ["203.0.113.30"])
        self.assertEqual(self.upstream_queries(), before + 2)  # outside it: asked


if __name__ == "__main__":
    unittest.main()
