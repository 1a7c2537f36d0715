"""geodnsd export-zone (issue 14 item 6): the static part of a zone as
geodnsd serves it, printed as a master file, checked by tools that are not
ours. The signed test zone of test_dnssec (KSK + ZSK, algorithm 13; a signed
child with a CSK, algorithm 15) exports with the RRSIGs made at load plus an
NSEC chain signed for the export, and ldns-verify-zone accepts it with the
zone's DS as its only trust anchor; a flipped signature byte or a missing
NSEC makes it refuse. The unsigned zone's export is read by ldns-read-zone and
holds what the running server answers. Only loopback is used."""
import base64
import os
import shutil
import subprocess
import unittest

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from harness import GEODNSD, Server, require_tools
from test_dnssec import CHILD_SECURE, ZONE, gslb_config, make_keys, parent_zone, zones_config

VERIFY, READ_ZONE = require_tools("ldns-verify-zone", "ldns-read-zone")


def export(config_path, zone):
    return subprocess.run([GEODNSD, "export-zone", "--config", config_path, "--zone", zone],
                          capture_output=True, text=True, timeout=60)


class SignedExportVerifies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keydir, cls.ksk, cls.zsk, cls.child = make_keys()
        files = {"sec.zone": parent_zone(cls.child), "secure.zone": CHILD_SECURE}
        extra = gslb_config()
        extra["zones"] = zones_config([cls.ksk, cls.zsk], [cls.child])[:2]
        # Only its config and zone files are used: export-zone loads them as
        # the server would; nothing is started.
        cls.cfg = Server(zones=[("sec.test", "sec.zone"), ("secure.sec.test", "secure.zone")],
                         zone_files=files, config_extra=extra)
        cls.exports = {}
        for origin in ("sec.test", "secure.sec.test"):
            out = export(cls.cfg.config_path, origin)
            if out.returncode != 0:
                raise RuntimeError("export-zone %s exited %d:\n%s" % (origin, out.returncode, out.stderr))
            cls.exports[origin] = out.stdout
        # The same zone served with NSEC3 white lies: its NSEC3PARAM is
        # exported (signed); the export's chain is still NSEC.
        extra["zones"] = zones_config([cls.ksk, cls.zsk], [cls.child], "nsec3")[:2]
        cls.cfg3 = Server(zones=[("sec.test", "sec.zone"), ("secure.sec.test", "secure.zone")],
                          zone_files=files, config_extra=extra)
        out = export(cls.cfg3.config_path, "sec.test")
        if out.returncode != 0:
            raise RuntimeError("export-zone (nsec3) exited %d:\n%s" % (out.returncode, out.stderr))
        cls.exports["sec.test nsec3"] = out.stdout

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cfg.dir, ignore_errors=True)
        shutil.rmtree(cls.cfg3.dir, ignore_errors=True)
        shutil.rmtree(cls.keydir, ignore_errors=True)

    def verify(self, text, keybase):
        """ldns-verify-zone on `text` with the DS ldns-keygen wrote beside the KSK."""
        path = os.path.join(self.keydir, "export.zone")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run([VERIFY, "-k", keybase + ".ds", path], capture_output=True, text=True,
                              timeout=60)

    @staticmethod
    def records(text):
        return [line.split(None, 4) for line in text.splitlines() if line and not line.startswith(";")]

    def test_ldns_verify_zone_accepts_the_export(self):
        for origin, key in [("sec.test", self.ksk), ("secure.sec.test", self.child), ("sec.test nsec3", self.ksk)]:
            with self.subTest(zone=origin):
                r = self.verify(self.exports[origin], key)
                self.assertEqual(r.returncode, 0, "%s\n%s\n%s" % (r.stdout, r.stderr, self.exports[origin]))
        nsec3param = [r[4] for r in self.records(self.exports["sec.test nsec3"]) if r[3] == "NSEC3PARAM"]
        self.assertEqual(nsec3param, ["1 0 0 -"])

    def test_the_export_holds_a_signed_nsec_per_static_name(self):
        recs = self.records(self.exports["sec.test"])
        nsec = [r[0] for r in recs if r[3] == "NSEC"]
        # Canonical order (RFC 4034 s6.1); glue (ns.secure, ns.insecure below
        # their cuts), the empty non-terminal wild and the pool name www: none.
        self.assertEqual(nsec, ["sec.test.", "alias.sec.test.", "big.sec.test.", "dangling.sec.test.",
                                "a.ent.sec.test.", "insecure.sec.test.", "ns1.sec.test.", "secure.sec.test.",
                                "static.sec.test.", "*.wild.sec.test."])
        bitmaps = {r[0]: r[4].split()[1:] for r in recs if r[3] == "NSEC"}
        self.assertEqual(bitmaps["secure.sec.test."], ["NS", "DS", "RRSIG", "NSEC"])
        self.assertEqual(bitmaps["insecure.sec.test."], ["NS", "RRSIG", "NSEC"])
        # ldns-verify-zone checks the chain's order and signatures but not the
        # bitmaps: each one against the types the export holds at its owner
        # (at a cut only NS and DS: RFC 4035 s2.3), plus RRSIG and NSEC.
        types = {}
        for r in recs:
            types.setdefault(r[0], set()).add(r[3])
        for owner, bitmap in bitmaps.items():
            with self.subTest(owner=owner):
                want = types[owner] | {"RRSIG", "NSEC"}
                if owner != "sec.test." and "NS" in want:
                    want &= {"NS", "DS", "RRSIG", "NSEC"}
                self.assertEqual(sorted(bitmap), sorted(want))
        self.assertEqual(recs[0][3], "SOA")
        self.assertNotIn("www.sec.test.", [r[0] for r in recs])
        self.assertIn(";   www.sec.test.", self.exports["sec.test"])  # named as left out
        # One ZSK: one RRSIG per NSEC.
        self.assertEqual(len([r for r in recs if r[3] == "RRSIG" and r[4].startswith("NSEC ")]), len(nsec))

    def test_the_signatures_are_those_the_server_makes(self):
        with open(os.path.join(self.cfg.dir, "sec.zone")) as f:
            files = {"sec.zone": f.read(), "secure.zone": CHILD_SECURE}
        srv = Server(zones=[("sec.test", "sec.zone"), ("secure.sec.test", "secure.zone")],
                     zone_files=files, config_extra=self.cfg_extra())
        srv.start()
        try:
            exported = export(srv.config_path, "sec.test")
            self.assertEqual(exported.returncode, 0, exported.stderr)
            served = srv.ask("static.sec.test", "TXT", want_dnssec=True)
            sig = served.find_rrset(dns.message.ANSWER, dns.name.from_text("static.sec.test"),
                                    dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.TXT)
            self.assertEqual(len(sig), 1)
        finally:
            srv.stop()
        # A second process signs at another second, so compare the fields a
        # load does not change: the key, the covered type, the labels, the TTL.
        lines = [r for r in self.records(exported.stdout) if r[0] == "static.sec.test." and r[3] == "RRSIG"
                 and r[4].startswith("TXT ")]
        self.assertEqual(len(lines), 1)
        f = lines[0][4].split()
        self.assertEqual((f[1], int(f[2]), int(f[3]), int(f[6])),
                         (str(sig[0].algorithm), sig[0].labels, sig[0].original_ttl, sig[0].key_tag))

    @classmethod
    def cfg_extra(cls):
        extra = gslb_config()
        extra["zones"] = zones_config([cls.ksk, cls.zsk], [cls.child])[:2]
        return extra

    def test_a_corrupted_export_is_refused(self):
        text = self.exports["sec.test"]
        lines = text.splitlines(keepends=True)

        def flip_signature(pred):
            """The export with one byte of the first matching RRSIG's signature flipped."""
            out = list(lines)
            for i, line in enumerate(out):
                f = line.split(None, 4)
                if len(f) == 5 and f[3] == "RRSIG" and pred(f[0], f[4]):
                    rdata = f[4].split()
                    sig = bytearray(base64.b64decode("".join(rdata[8:])))
                    sig[10] ^= 0x01
                    rdata[8:] = [base64.b64encode(bytes(sig)).decode()]
                    out[i] = "\t".join(f[:4]) + "\t" + " ".join(rdata) + "\n"
                    return "".join(out)
            self.fail("no RRSIG matched")

        def drop(pred):
            out = [line for line in lines if not pred(line.split(None, 4))]
            self.assertEqual(len(out), len(lines) - 1)
            return "".join(out)

        cases = {
            "a signature made at load": flip_signature(lambda o, r: o == "static.sec.test." and r.startswith("A ")),
            "an NSEC's signature": flip_signature(lambda o, r: o == "alias.sec.test." and r.startswith("NSEC ")),
            "the DNSKEY's signature": flip_signature(lambda o, r: o == "sec.test." and r.startswith("DNSKEY ")),
            "an NSEC left out (a broken chain)": drop(lambda f: len(f) == 5 and f[0] == "big.sec.test." and f[3] == "NSEC"),
        }
        self.assertEqual(self.verify(text, self.ksk).returncode, 0)  # the untouched export passes
        for what, bad in cases.items():
            with self.subTest(corruption=what):
                r = self.verify(bad, self.ksk)
                self.assertNotEqual(r.returncode, 0, "ldns-verify-zone accepted %s:\n%s" % (what, r.stdout))


class UnsignedExportRoundTrips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        extra = gslb_config()
        extra["zones"] = [{"origin": "sec.test", "file": "sec.zone", "serial": "increment"}]
        cls.srv = Server(zones=[("sec.test", "sec.zone")], zone_files={"sec.zone": ZONE}, config_extra=extra)
        cls.srv.start()
        cls.out = export(cls.srv.config_path, "sec.test")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_ldns_read_zone_reads_it(self):
        self.assertEqual(self.out.returncode, 0, self.out.stderr)
        self.assertNotIn("RRSIG", self.out.stdout)
        self.assertNotIn("NSEC", self.out.stdout)
        r = subprocess.run([READ_ZONE, "-z"], input=self.out.stdout, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("static.sec.test.", r.stdout)

    def test_the_export_is_what_the_server_answers(self):
        zone = dns.zone.from_text(self.out.stdout, origin="sec.test.", relativize=False)
        for name, rdtype in [("sec.test", "SOA"), ("sec.test", "NS"), ("static.sec.test", "A"),
                             ("static.sec.test", "TXT"), ("big.sec.test", "TXT"), ("alias.sec.test", "CNAME"),
                             ("ns1.sec.test", "A"), ("insecure.sec.test", "NS")]:
            with self.subTest(name=name, rdtype=rdtype):
                exported = zone.get_rdataset(name + ".", rdtype)
                self.assertIsNotNone(exported)
                r = self.srv.ask(name, rdtype)
                section = r.answer or r.authority
                served = [rr for rrset in section if rrset.rdtype == dns.rdatatype.from_text(rdtype)
                          for rr in rrset]
                self.assertEqual(sorted(x.to_text() for x in exported), sorted(x.to_text() for x in served))
        # The pool name is not in the export: its answers are made per query.
        self.assertIsNone(zone.get_node("www.sec.test."))

    def test_unknown_zone_and_missing_zone_are_usage_errors(self):
        for args, msg in [(["--zone", "nope.test"], "no zone nope.test. in the config"),
                          ([], "needs --zone ORIGIN")]:
            with self.subTest(args=args):
                r = subprocess.run([GEODNSD, "export-zone", "--config", self.srv.config_path] + args,
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2)
                self.assertIn(msg, r.stderr)
                self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
