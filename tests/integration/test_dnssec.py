"""DNSSEC end to end (issue 14): geodnsd serves a signed zone (KSK + ZSK,
algorithm 13) with a signed child (CSK, algorithm 15, DS in the parent) and an
unsigned child (no DS), and Unbound on loopback, holding the parent's DS as
its trust anchor, validates every kind of answer: static data, geo answers for
three ECS subnets, a CNAME into a pool, a wildcard, NXDOMAIN and NODATA
(compact denial, RFC 9824; and again with NSEC3 white lies, RFC 7129
appendix B), the DS of a secure delegation and the proof that an insecure one
has none. Answers to queries without DO must be the bytes an
unsigned server sends.

Only loopback is used: Unbound refuses every name outside the test zones."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import dns.dnssec
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset

from harness import Server, free_port, require_tools, stop_process

UNBOUND, KEYGEN, DELV = require_tools("unbound", "ldns-keygen", "delv")  # else the suite is reported skipped
GEOIP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../data/geoip/geodns-test-city.mmdb")

ZONE = """$ORIGIN sec.test.
$TTL 300
@        SOA ns1 hostmaster 1 3600 600 86400 60
@        NS  ns1
ns1      A   127.0.0.1
static   A   192.0.2.1
static   TXT "static text"
big      TXT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
big      TXT "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
big      TXT "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
alias    CNAME www
dangling CNAME nowhere
a.ent    A   192.0.2.9
*.wild   A   192.0.2.7
secure   NS  ns.secure
ns.secure A  127.0.0.1
insecure NS  ns.insecure
ns.insecure A 127.0.0.1
"""
CHILD_SECURE = """$ORIGIN secure.sec.test.
$TTL 300
@    SOA ns hostmaster 1 3600 600 86400 60
@    NS  ns
ns   A   127.0.0.1
www  A   192.0.2.55
"""
CHILD_INSECURE = """$ORIGIN insecure.sec.test.
$TTL 300
@    SOA ns hostmaster 1 3600 600 86400 60
@    NS  ns
ns   A   127.0.0.1
www  A   192.0.2.66
"""

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
    val-log-level: 2
    module-config: "subnetcache validator iterator"
    send-client-subnet: 127.0.0.1
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
    local-zone: "." refuse
    local-zone: "sec.test." transparent
    trust-anchor: "{anchor}"
stub-zone:
    name: "sec.test."
    stub-addr: 127.0.0.1@{geodns_port}
stub-zone:
    name: "secure.sec.test."
    stub-addr: 127.0.0.1@{geodns_port}
stub-zone:
    name: "insecure.sec.test."
    stub-addr: 127.0.0.1@{geodns_port}
"""


def keygen(directory, zone, alg, ksk):
    args = [KEYGEN, "-a", alg] + (["-k"] if ksk else []) + [zone]
    base = subprocess.run(args, cwd=directory, capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(directory, base)


def make_keys():
    """A temporary key directory with the parent's KSK and ZSK (algorithm 13)
    and the secure child's CSK (algorithm 15): (keydir, ksk, zsk, child)."""
    keydir = tempfile.mkdtemp(prefix="geodnsd-keys-")
    return (keydir, keygen(keydir, "sec.test", "ECDSAP256SHA256", True),
            keygen(keydir, "sec.test", "ECDSAP256SHA256", False),
            keygen(keydir, "secure.sec.test", "ED25519", True))


def parent_zone(child):
    """The parent's zone file, with the secure child's DS in it."""
    return ZONE + ds_text(child).replace("secure.sec.test.\tIN", "secure.sec.test. IN") + "\n"


def ds_text(keybase):
    """The DS record ldns-keygen wrote beside a KSK (SHA-256)."""
    with open(keybase + ".ds") as f:
        return " ".join(f.read().split())


def zones_config(keys, child_keys, denial="compact"):
    return [{"origin": "sec.test", "file": "sec.zone",
             "dnssec": {"keys": [k + ".private" for k in keys], "signature_validity_s": 86400,
                        "refresh_s": 21600, "denial": denial}},
            {"origin": "secure.sec.test", "file": "secure.zone",
             "dnssec": {"keys": [k + ".private" for k in child_keys]}},
            {"origin": "insecure.sec.test", "file": "insecure.zone"}]


def gslb_config():
    return {
        "geo": {"databases": [{"file": os.path.abspath(GEOIP)}],
                "nets": {"127.0.0.0/8": {"label": "lab"}}},
        "regions": {"us": {}, "eu": {}, "jp": {}},
        "pools": {"web": {"ttl": 30, "regions": {
            "us": {"members": [{"address": "192.0.2.10"}]},
            "eu": {"members": [{"address": "198.51.100.10"}]},
            "jp": {"members": [{"address": "203.0.113.10"}]}}}},
        "policies": {"geo": {"steps": [{"step": "geo_map", "map": {
            "country:US": ["us"], "continent:EU": ["eu"], "continent:AS": ["jp"], "default": ["us"]}}]}},
        "bindings": [{"name": "www.sec.test", "pool": "web", "policy": "geo"}],
    }


class SignedZoneThroughUnbound(unittest.TestCase):
    DENIAL = "compact"

    @classmethod
    def setUpClass(cls):
        cls.keydir, cls.ksk, cls.zsk, cls.child = make_keys()
        files = {"sec.zone": parent_zone(cls.child), "secure.zone": CHILD_SECURE, "insecure.zone": CHILD_INSECURE}
        origins = [("sec.test", "sec.zone"), ("secure.sec.test", "secure.zone"),
                   ("insecure.sec.test", "insecure.zone")]
        extra = gslb_config()
        extra["zones"] = zones_config([cls.ksk, cls.zsk], [cls.child], cls.DENIAL)
        cls.srv = Server(zones=origins, zone_files=files, config_extra=extra)
        cls.srv.start()
        # The same zones unsigned, to compare answers to queries without DO.
        plain = gslb_config()
        plain["zones"] = [{"origin": o, "file": f} for o, f in origins]
        cls.plain = Server(zones=origins, zone_files=files, config_extra=plain)
        cls.plain.start()
        # The parent alone, signed: its view of the delegations is a referral.
        parent = gslb_config()
        parent["zones"] = zones_config([cls.ksk, cls.zsk], [cls.child], cls.DENIAL)[:1]
        cls.parent_only = Server(zones=origins[:1], zone_files=files, config_extra=parent)
        cls.parent_only.start()

        cls.udir = tempfile.mkdtemp(prefix="unbound-dnssec-")
        cls.uport = free_port()
        conf = os.path.join(cls.udir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(UNBOUND_CONF.format(port=cls.uport, dir=cls.udir, geodns_port=cls.srv.port,
                                        anchor=ds_text(cls.ksk)))
        cls.ulog_path = os.path.join(cls.udir, "unbound.log")
        cls.ulog = open(cls.ulog_path, "w")
        cls.unbound = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdout=cls.ulog, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if cls.unbound.poll() is not None:
                raise RuntimeError("unbound exited:\n" + open(cls.ulog_path).read())
            try:
                cls.resolve("sec.test", "SOA")
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("unbound not answering")

    @classmethod
    def tearDownClass(cls):
        stop_process(cls.unbound)
        cls.ulog.close()
        cls.srv.stop()
        cls.plain.stop()
        cls.parent_only.stop()
        shutil.rmtree(cls.udir, ignore_errors=True)
        shutil.rmtree(cls.keydir, ignore_errors=True)

    @classmethod
    def resolve(cls, name, rdtype="A", subnet=None):
        options = []
        if subnet:
            addr, prefix = subnet.split("/")
            options.append(dns.edns.ECSOption(addr, int(prefix)))
        q = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=True, options=options)
        return dns.query.udp(q, "127.0.0.1", port=cls.uport, timeout=5)

    def validated(self, name, rdtype="A", subnet=None, rcode=0):
        r = self.resolve(name, rdtype, subnet)
        self.assertEqual(r.rcode(), rcode, "%s %s: rcode %d\n%s" % (name, rdtype, r.rcode(), self.unbound_log()))
        self.assertTrue(r.flags & dns.flags.AD, "%s %s not validated (no AD):\n%s\n%s" %
                        (name, rdtype, r, self.unbound_log()))
        return r

    def unbound_log(self):
        self.ulog.flush()
        with open(self.ulog_path) as f:
            return f.read()[-3000:]

    @staticmethod
    def answers(r, rdtype):
        t = dns.rdatatype.from_text(rdtype)
        return sorted(rr.to_text() for rrset in r.answer if rrset.rdtype == t for rr in rrset)

    def test_static_answers_validate(self):
        self.assertEqual(self.answers(self.validated("static.sec.test"), "A"), ["192.0.2.1"])
        self.assertEqual(self.answers(self.validated("static.sec.test", "TXT"), "TXT"), ['"static text"'])
        self.assertEqual(len(self.answers(self.validated("sec.test", "DNSKEY"), "DNSKEY")), 2)

    def test_geo_answers_from_three_subnets_validate(self):
        for subnet, want in [("198.51.100.7/24", "198.51.100.10"), ("203.0.113.5/24", "203.0.113.10"),
                             ("192.0.2.5/24", "192.0.2.10")]:
            with self.subTest(subnet=subnet):
                self.assertEqual(self.answers(self.validated("www.sec.test", subnet=subnet), "A"), [want])

    def test_cname_into_a_pool_validates(self):
        r = self.validated("alias.sec.test", subnet="203.0.113.9/24")
        self.assertEqual(self.answers(r, "CNAME"), ["www.sec.test."])
        self.assertEqual(self.answers(r, "A"), ["203.0.113.10"])

    def test_wildcard_validates(self):
        self.assertEqual(self.answers(self.validated("anything.wild.sec.test"), "A"), ["192.0.2.7"])

    def test_nxdomain_and_nodata_validate(self):
        # Compact denial: a name that does not exist is answered NOERROR with
        # an NSEC at the name (NXNAME in its bitmap), proven, so AD is set.
        # NSEC3 white lies keep NXDOMAIN, proven by three NSEC3 records.
        nx = 3 if self.DENIAL == "nsec3" else 0
        for name, rdtype, subnet, rcode in [
                ("nothing-here.sec.test", "A", None, nx),
                ("deeper.nothing.ent.sec.test", "A", None, nx),
                ("dangling.sec.test", "A", None, nx),  # NXDOMAIN at the end of a CNAME chain
                ("static.sec.test", "AAAA", None, 0),
                ("ent.sec.test", "A", None, 0),  # an empty non-terminal
                ("x.wild.sec.test", "AAAA", None, 0),  # NODATA under a wildcard
                ("www.sec.test", "TXT", "198.51.100.7/24", 0)]:
            with self.subTest(name=name, rdtype=rdtype):
                r = self.validated(name, rdtype, subnet, rcode)
                self.assertEqual([rrset for rrset in r.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)], [])
        r = self.srv.ask("nothing-here.sec.test", "A", want_dnssec=True)
        proof = [rrset.rdtype for rrset in r.authority if rrset.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)]
        self.assertEqual(proof, [dns.rdatatype.NSEC3] * 3 if self.DENIAL == "nsec3" else [dns.rdatatype.NSEC])

    def test_delegation_with_ds_validates_into_the_child(self):
        self.assertEqual(len(self.answers(self.validated("secure.sec.test", "DS"), "DS")), 1)
        self.assertEqual(self.answers(self.validated("www.secure.sec.test"), "A"), ["192.0.2.55"])

    def test_delegation_without_ds_is_proven_insecure(self):
        r = self.validated("insecure.sec.test", "DS")  # the proof that there is no DS is signed
        self.assertEqual(r.answer, [])
        r = self.resolve("www.insecure.sec.test")
        self.assertEqual((r.rcode(), self.answers(r, "A")), (0, ["192.0.2.66"]))
        self.assertFalse(r.flags & dns.flags.AD)  # insecure, not bogus

    def test_referrals_carry_the_ds_or_its_denial(self):
        dnskey = self.srv.ask("sec.test", "DNSKEY", want_dnssec=True).find_rrset(
            dns.message.ANSWER, dns.name.from_text("sec.test"), dns.rdataclass.IN, dns.rdatatype.DNSKEY)
        keys = {dns.name.from_text("sec.test"): dnskey}
        denial = dns.rdatatype.NSEC3 if self.DENIAL == "nsec3" else dns.rdatatype.NSEC
        for name, covered in [("x.secure.sec.test", dns.rdatatype.DS), ("x.insecure.sec.test", denial)]:
            with self.subTest(name=name):
                r = dns.message.make_query(name, "A", want_dnssec=True)
                r.flags &= ~dns.flags.RD
                cut = dns.name.from_text(name).parent()
                resp = self.parent_only.query(r, "udp")
                self.assertFalse(resp.flags & dns.flags.AA)
                # The NSEC3 that matches the cut is owned by its hash.
                owner = (dns.name.from_text(dns.dnssec.nsec3_hash(cut, salt=None, iterations=0, algorithm=1).lower(),
                                            dns.name.from_text("sec.test"))
                         if covered == dns.rdatatype.NSEC3 else cut)
                data = resp.find_rrset(dns.message.AUTHORITY, owner, dns.rdataclass.IN, covered)
                sig = resp.find_rrset(dns.message.AUTHORITY, owner, dns.rdataclass.IN, dns.rdatatype.RRSIG, covered)
                dns.dnssec.validate(data, sig, keys)  # raises when it does not validate
                if covered == dns.rdatatype.NSEC:  # NS at the cut, no DS: an insecure delegation
                    self.assertEqual(data[0].to_text().split()[1:], ["NS", "RRSIG", "NSEC"])
                if covered == dns.rdatatype.NSEC3:  # the cut's own hash, NS alone (nothing signed there)
                    self.assertEqual(data[0].to_text().split()[5:], ["NS"])
                with self.assertRaises(KeyError):  # NS at a cut is not signed (RFC 4035 s2.2)
                    resp.find_rrset(dns.message.AUTHORITY, cut, dns.rdataclass.IN, dns.rdatatype.RRSIG,
                                    dns.rdatatype.NS)

    def test_delv_chases_from_the_trust_anchor(self):
        owner, _cls, _t, tag, alg, digest_type, digest = ds_text(self.ksk).split(None, 6)
        anchor = os.path.join(self.keydir, "anchor.conf")
        with open(anchor, "w") as f:
            f.write('trust-anchors { "%s" static-ds %s %s %s "%s"; };\n' % (owner, tag, alg, digest_type, digest))
        for name, rdtype, want in [("static.sec.test", "A", "; fully validated"),
                                   ("www.sec.test", "A", "; fully validated"),
                                   ("x.wild.sec.test", "A", "; fully validated"),
                                   ("nothing.sec.test", "A", "; negative response, fully validated"),
                                   ("www.secure.sec.test", "A", "; fully validated")]:
            with self.subTest(name=name):
                out = subprocess.run([DELV, "@127.0.0.1", "-p", str(self.srv.port), "-a", anchor,
                                      "+root=sec.test", name, rdtype],
                                     capture_output=True, text=True, timeout=30)
                self.assertIn(want, out.stdout + out.stderr)

    def test_without_do_the_answers_are_the_unsigned_ones(self):
        cases = [("static.sec.test", "A"), ("www.sec.test", "A"), ("alias.sec.test", "A"),
                 ("x.wild.sec.test", "A"), ("nothing.sec.test", "A"), ("static.sec.test", "AAAA"),
                 ("x.secure.sec.test", "A"), ("x.insecure.sec.test", "A"), ("secure.sec.test", "DS")]
        for name, rdtype in cases:
            for edns in (None, 0):
                with self.subTest(name=name, rdtype=rdtype, edns=edns):
                    q = dns.message.make_query(name, rdtype, use_edns=edns)
                    q.id = 4242
                    signed = self.srv.raw(q.to_wire(), "udp")
                    plain = self.plain.raw(q.to_wire(), "udp")
                    self.assertIsNotNone(signed)
                    self.assertEqual(signed, plain)

    def test_do_answers_that_do_not_fit_udp_are_truncated(self):
        # Three 140-byte TXT records fit 512 bytes; with their RRSIG they do not.
        for do, tc in [(False, False), (True, True)]:
            with self.subTest(do=do):
                q = dns.message.make_query("big.sec.test", "TXT")
                q.flags &= ~dns.flags.RD
                q.use_edns(0, dns.flags.DO if do else 0, 512)
                r = self.srv.query(q, "udp")
                self.assertEqual(bool(r.flags & dns.flags.TC), tc)
                if not tc:
                    self.assertEqual(len(self.answers(r, "TXT")), 3)
        q = dns.message.make_query("big.sec.test", "TXT", want_dnssec=True)
        full = self.srv.query(q, "tcp")
        self.assertEqual(len(self.answers(full, "TXT")), 3)
        self.assertEqual(len(full.answer), 2)  # the TXT RRset and its RRSIG


class Nsec3SignedZoneThroughUnbound(SignedZoneThroughUnbound):
    """The same zones and checks with "denial": "nsec3" (RFC 7129 appendix B
    white lies: SHA-1, no salt, no extra iterations, RFC 9276)."""
    DENIAL = "nsec3"

    def test_the_apex_publishes_nsec3param(self):
        r = self.validated("sec.test", "NSEC3PARAM")
        self.assertEqual(self.answers(r, "NSEC3PARAM"), ["1 0 0 -"])


class SignaturesAreRefreshedWithoutAReload(unittest.TestCase):
    """signature_validity_s 3600 and refresh_s 3598: static signatures reach
    their refresh time two seconds after loading, and the server signs again
    and publishes on its own (no SIGHUP, no admin call)."""

    def test_static_signatures_are_replaced_before_they_expire(self):
        keydir = tempfile.mkdtemp(prefix="geodnsd-keys-")
        try:
            csk = keygen(keydir, "sec.test", "ED25519", True)
            extra = {"zones": [{"origin": "sec.test", "file": "sec.zone",
                                "dnssec": {"keys": [csk + ".private"], "signature_validity_s": 3600,
                                           "refresh_s": 3598}}]}
            srv = Server(zones=[("sec.test", "sec.zone")], zone_files={"sec.zone": ZONE}, config_extra=extra)
            srv.start()
            try:
                def inception():
                    r = srv.ask("static.sec.test", "A", want_dnssec=True)
                    sigs = [rr for rrset in r.answer if rrset.rdtype == dns.rdatatype.RRSIG for rr in rrset]
                    self.assertEqual(len(sigs), 1)
                    return sigs[0].inception, sigs[0].expiration
                first = inception()
                self.assertEqual(first[1] - first[0], 3600 + 3600)  # backdated inception
                deadline = time.monotonic() + 15
                while inception() == first and time.monotonic() < deadline:
                    time.sleep(0.2)
                later = inception()
                self.assertGreater(later[0], first[0])
                self.assertIn("re-signing", srv.read_log())
            finally:
                srv.stop()
        finally:
            shutil.rmtree(keydir, ignore_errors=True)


class SigningBudgetThroughUnbound(unittest.TestCase):
    """limits.max_signatures_per_second 1, burst 1: a fresh NXDOMAIN beyond
    the budget is answered TC=1 with no records over UDP and signed over TCP,
    and Unbound, following the TC to TCP, still validates every one of a
    burst of new names (issue 14, signing budget)."""

    def test_over_budget_answers_go_to_tcp_and_validate(self):
        keydir = tempfile.mkdtemp(prefix="geodnsd-keys-")
        udir = tempfile.mkdtemp(prefix="unbound-budget-")
        srv = unbound = ulog = None
        try:
            csk = keygen(keydir, "sec.test", "ECDSAP256SHA256", True)
            extra = {"limits": {"max_signatures_per_second": 1, "signature_burst": 1},
                     "zones": [{"origin": "sec.test", "file": "sec.zone",
                                "dnssec": {"keys": [csk + ".private"]}}]}
            srv = Server(zones=[("sec.test", "sec.zone")], zone_files={"sec.zone": ZONE}, config_extra=extra)
            srv.start()
            # The wire: the one token goes to the first name, the second is TC.
            srv.ask("n1.budget.sec.test", "A", want_dnssec=True)
            r = srv.ask("n2.budget.sec.test", "A", want_dnssec=True)
            self.assertTrue(r.flags & dns.flags.TC)
            self.assertEqual((r.answer, r.authority, r.additional), ([], [], []))
            r = srv.ask("n2.budget.sec.test", "A", transport="tcp", want_dnssec=True)
            self.assertFalse(r.flags & dns.flags.TC)
            self.assertTrue(any(rrset.rdtype == dns.rdatatype.RRSIG for rrset in r.authority))

            uport = free_port()
            conf = os.path.join(udir, "unbound.conf")
            with open(conf, "w") as f:
                f.write(UNBOUND_CONF.format(port=uport, dir=udir, geodns_port=srv.port, anchor=ds_text(csk)))
            ulog_path = os.path.join(udir, "unbound.log")
            ulog = open(ulog_path, "w")
            unbound = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdout=ulog, stderr=subprocess.STDOUT)

            def resolve(name):
                q = dns.message.make_query(name, "A", use_edns=0, want_dnssec=True)
                return dns.query.udp(q, "127.0.0.1", port=uport, timeout=5)
            deadline = time.monotonic() + 10
            while True:
                try:
                    resolve("sec.test")
                    break
                except Exception:
                    if unbound.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for i in range(5):  # 5 new names within a second: at most one signed over UDP
                r = resolve("v%d.budget.sec.test" % i)
                ulog.flush()
                self.assertEqual(r.rcode(), 0)  # compact denial: NOERROR
                self.assertTrue(r.flags & dns.flags.AD, "v%d not validated:\n%s\n%s" %
                                (i, r, open(ulog_path).read()[-3000:]))
        finally:
            if unbound:
                stop_process(unbound)
            if ulog:
                ulog.close()
            if srv:
                srv.stop()
            shutil.rmtree(udir, ignore_errors=True)
            shutil.rmtree(keydir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
