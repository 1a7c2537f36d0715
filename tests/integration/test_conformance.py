"""Differential wire conformance: geodnsd against NSD 4.6 and Knot 3.2.

The three servers load the same zone (zones/conformance.test.zone) on
loopback; each case sends the same raw bytes to all three over UDP and TCP and
compares the fields the RFCs define: rcode (with the OPT's extended bits), AA,
TC, the question echoed, the record types and classes of answer and authority,
the additional types, whether an OPT came back, and the TSIG error.

Each case says whom geodnsd must match: both references (which must then
agree with each other), or one of them where they differ; docs/dns-behaviour.md
says which and why. A few fields are left out of a comparison where geodnsd
deliberately differs; each is named with its reason.

Run as a script (ctest does): exits 77, which ctest reports as skipped, when
NSD or Knot is not installed.
"""
import os
import struct
import sys
import unittest

import dns.message
import dns.tsigkeyring

from harness import Server
from refservers import Knot, Nsd

SKIP_EXIT = 77  # SKIP_RETURN_CODE in tests/CMakeLists.txt
ZONES = [("conformance.test", "conformance.test.zone")]
ID = 0x4242


# ---- building messages ----
def wname(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", ID, flags, qd, an, ns, ar)


def question(name="www.conformance.test", qtype=1, qclass=1):
    return wname(name) + struct.pack("!HH", qtype, qclass)


def opt(options=b"", version=0):
    return b"\x00" + struct.pack("!HHIH", 41, 1232, version << 16, len(options)) + options


def ecs(family, source, scope, address):
    data = struct.pack("!HBB", family, source, scope) + address
    return struct.pack("!HH", 8, len(data)) + data


def a_record(owner):
    return wname(owner) + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])


def signed(name="www.conformance.test", rdtype="A", edns=False, algorithm="hmac-sha256"):
    """A query signed with a key none of the servers knows (dnspython builds the TSIG)."""
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    q.flags = 0
    q.id = ID
    ring = dns.tsigkeyring.from_text({"unknown-key.": "aGVsbG8gd29ybGQgMTIzNDU2Nzg5MA=="})
    q.use_tsig(ring, keyname="unknown-key.", algorithm=algorithm)
    return q.to_wire()


def split_tsig(wire):
    """(message without its TSIG and with ARCOUNT - 1, the TSIG RR bytes)."""
    # The TSIG is the last RR; dnspython writes the key name uncompressed.
    key = wname("unknown-key")
    at = wire.rindex(key + b"\x00\xfa")
    hdr = bytearray(wire[:12])
    struct.pack_into("!H", hdr, 10, struct.unpack("!H", wire[10:12])[0] - 1)
    return bytes(hdr) + wire[12:at], wire[at:]


def with_counts(wire, **counts):
    hdr = bytearray(wire[:12])
    for i, k in enumerate(("qd", "an", "ns", "ar")):
        if k in counts:
            struct.pack_into("!H", hdr, 4 + 2 * i, counts[k])
    return bytes(hdr) + wire[12:]


# ---- reading responses (by hand: dnspython refuses TSIG without the key) ----
def skip_name(m, p):
    while True:
        c = m[p]
        if c & 0xC0 == 0xC0:
            return p + 2
        p += 1 + c
        if c == 0:
            return p


def read_name(m, p):
    labels = []
    while True:
        c = m[p]
        if c & 0xC0 == 0xC0:
            p = ((c & 0x3F) << 8) | m[p + 1]
            continue
        if c == 0:
            return ".".join(labels) + "."
        labels.append(m[p + 1:p + 1 + c].decode("ascii", "replace").lower())
        p += 1 + c


def summary(resp, query):
    """The compared fields of a response, or None when there was none."""
    if resp is None:
        return None
    _, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", resp[:12])
    p = 12
    for _ in range(qd):
        p = skip_name(resp, p) + 4
    qsec = resp[12:p]
    qend = skip_name(query, 12) + 4 if struct.unpack("!H", query[4:6])[0] else 12
    s = {"rcode": flags & 0xF, "opcode": (flags >> 11) & 0xF, "aa": bool(flags & 0x400),
         "tc": bool(flags & 0x200), "qd": qd, "question_echoed": qd == 1 and qsec == query[12:qend],
         "answer": [], "authority": [], "additional": [], "opt": False, "tsig_error": None,
         "tsig_last": None}
    sections = [("answer", an), ("authority", ns), ("additional", ar)]
    for sec, count in sections:
        for i in range(count):
            start = p
            p = skip_name(resp, p)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", resp[p:p + 10])
            rdata = p + 10
            p = rdata + rdlen
            if rtype == 41:
                s["opt"] = True
                s["rcode"] |= (ttl >> 24) << 4
            elif rtype == 250:
                q = skip_name(resp, rdata) + 6 + 2  # algorithm, time, fudge
                mac = struct.unpack("!H", resp[q:q + 2])[0]
                q += 2 + mac
                _, err = struct.unpack("!HH", resp[q:q + 4])
                s["tsig_error"] = err
                s["tsig_last"] = sec == "additional" and i == count - 1
                s["tsig_key"] = read_name(resp, start)
                s["tsig_mac_size"] = mac
            elif sec == "additional":
                s[sec].append(rtype)
            else:
                s[sec].append((rtype, rclass))
    s["authority"].sort()
    s["additional"].sort()
    s["trailing"] = len(resp) - p
    return s


FIELDS = ("rcode", "opcode", "aa", "tc", "qd", "question_echoed", "answer", "authority",
          "additional", "opt", "tsig_error", "tsig_last", "trailing")


def differences(a, b, ignore=()):
    if a is None or b is None:
        return [] if a is b else ["response: %r vs %r" % (a is not None, b is not None)]
    return ["%s: %r vs %r" % (f, a[f], b[f]) for f in FIELDS if f not in ignore and a[f] != b[f]]


# ---- the cases ----
# (name, wire, transports, match, ignore, why)
#   match: "both" (NSD and Knot agree; geodnsd matches them), "knot", "nsd".
#   ignore: fields geodnsd deliberately answers otherwise than the reference.
UDP, TCP, BOTH = ("udp",), ("tcp",), ("udp", "tcp")
W = "www.conformance.test"
NOTIFY, UPDATE = 4 << 11, 5 << 11
TSIG_WIRE = signed()
TSIG_UNSIGNED, TSIG_RR = split_tsig(TSIG_WIRE)
Q_WWW = question(W)

CASES = [
    # item 1: EDNS on every response to an EDNS query
    ("QDCOUNT 0 with OPT: FORMERR with OPT (NSD says NOERROR)", header(qd=0, ar=1) + opt(),
     BOTH, "knot", (), ""),
    ("ECS source prefix > 32: FORMERR with OPT", header(ar=1) + Q_WWW + opt(ecs(1, 33, 0, b"\x0a\0\0\0\0")),
     BOTH, "knot", (), "NSD does not read ECS"),
    ("ECS unknown family", header(ar=1) + Q_WWW + opt(ecs(3, 8, 0, b"\x0a")), BOTH, "knot", (), "NSD does not read ECS"),
    ("ECS address shorter than the prefix", header(ar=1) + Q_WWW + opt(ecs(1, 24, 0, b"\x0a\0")),
     BOTH, "knot", (), "NSD does not read ECS"),
    ("ECS option shorter than its fixed part", header(ar=1) + Q_WWW + opt(struct.pack("!HHH", 8, 2, 1)),
     BOTH, "knot", (), "NSD does not read ECS"),
    ("second OPT: FORMERR, question, no OPT", header(ar=2) + Q_WWW + opt() + opt(), BOTH, "knot", (),
     "NSD drops the question"),
    ("option runs past the OPT RDATA", header(ar=1) + Q_WWW + opt(struct.pack("!HH", 65001, 30) + b"abc"),
     BOTH, "knot", (), "NSD drops the question"),
    ("OPT in the answer section", header(an=1) + Q_WWW + opt(), BOTH, "knot", (), "NSD drops the question"),
    ("OPT, then a record that breaks off", header(ar=2) + Q_WWW + opt() + b"\x00\x00\x01", BOTH, "knot", (),
     "NSD drops the question"),
    ("ANCOUNT 1 swallows the OPT", header(an=1, ar=1) + Q_WWW + opt(), BOTH, "knot", (), "NSD drops the question"),
    ("unreadable question: header only", header(ar=1) + b"\xc0\x0c\x00\x01\x00\x01" + opt(), BOTH, "nsd", (),
     "Knot sends nothing"),
    ("opcode IQUERY with OPT: NOTIMP, question, OPT", header(1 << 11, ar=1) + Q_WWW + opt(), BOTH, "knot", (),
     "NSD answers with the header only"),
    ("opcode STATUS with OPT", header(2 << 11, ar=1) + Q_WWW + opt(), BOTH, "knot", (), "NSD: header only"),
    ("opcode 15 with OPT", header(15 << 11, ar=1) + Q_WWW + opt(), BOTH, "knot", (), "NSD: header only"),
    ("opcode STATUS, QDCOUNT 0, OPT", header(2 << 11, qd=0, ar=1) + opt(), BOTH, "knot", (), "NSD: header only"),
    ("EDNS version 1 with a bad ECS: BADVERS first", header(ar=1) + Q_WWW + opt(ecs(1, 33, 0, b"\x0a\0\0\0\0"), 1),
     BOTH, "nsd", (), "Knot with edns-client-subnet on checks the ECS first (FORMERR)"),
    ("REFUSED outside every zone, with OPT", header(ar=1) + question("www.example.org") + opt(), BOTH, "both", (), ""),
    ("REFUSED for class HS", header(ar=1) + question(W, 1, 4) + opt(), BOTH, "knot", (), "NSD: header only"),
    # item 2: CNAME into a delegation
    ("CNAME below a cut: CNAME + referral", header() + question("todeleg.conformance.test"), BOTH, "both", (), ""),
    ("CNAME to the cut", header(ar=1) + question("tocut.conformance.test") + opt(), BOTH, "both", (), ""),
    ("two CNAMEs to a cut", header() + question("twohops.conformance.test", 28), BOTH, "both", (), ""),
    ("below the cut: referral", header() + question("host.sub.conformance.test"), BOTH, "both", (), ""),
    # item 3: ANY at a CNAME
    ("ANY at a CNAME", header() + question("alias.conformance.test", 255), BOTH, "both", (), ""),
    ("ANY at a chain", header() + question("chain.conformance.test", 255), BOTH, "both", (), ""),
    ("ANY at a CNAME into a cut", header() + question("todeleg.conformance.test", 255), BOTH, "both", (), ""),
    # item 4: QCLASS ANY
    ("QCLASS ANY: IN data", header() + question(W, 1, 255), BOTH, "knot", (), "NSD clears AA"),
    ("QCLASS ANY: CNAME chased", header() + question("alias.conformance.test", 1, 255), BOTH, "knot", (),
     "NSD clears AA"),
    ("QCLASS ANY: NXDOMAIN with SOA", header() + question("nope.conformance.test", 1, 255), BOTH, "knot", (),
     "NSD clears AA and leaves the SOA out"),
    ("QCLASS ANY: referral", header() + question("host.sub.conformance.test", 1, 255), BOTH, "both", (), ""),
    ("QCLASS ANY outside every zone", header(ar=1) + question("www.example.org", 1, 255) + opt(), BOTH, "both",
     (), ""),
    # item 5: meta and obsolete QTYPEs, transfers
] + [
    ("QTYPE %d at %s" % (t, n), header(ar=1) + question(n, t) + opt(), BOTH, "both", (), "")
    for t in (41, 249, 250, 253, 254)
    for n in (W, "nope.conformance.test", "alias.conformance.test", "host.sub.conformance.test", "www.example.org")
] + [
    ("AXFR over UDP: NOTIMP", header(ar=1) + question("conformance.test", 252) + opt(), UDP, "both", (), ""),
    ("AXFR over UDP outside every zone", header() + question("example.org", 252), UDP, "both", (), ""),
    ("AXFR over TCP: REFUSED", header(ar=1) + question("conformance.test", 252) + opt(), TCP, "nsd", (),
     "Knot says NOTAUTH (no ACL)"),
    # item 6: NOTIFY and UPDATE
    ("NOTIFY with QDCOUNT 0", header(NOTIFY, qd=0, ar=1) + opt(), BOTH, "knot", (), "NSD: NXDOMAIN"),
    ("UPDATE for a served zone: NOTAUTH",
     header(UPDATE, ns=1, ar=1) + question("conformance.test", 6) + a_record("new.conformance.test") + opt(),
     BOTH, "knot", (), "NSD: NOTIMP, header only"),
    ("UPDATE with QDCOUNT 0", header(UPDATE, qd=0, ar=1) + opt(), BOTH, "knot", (), "NSD: NOTIMP"),
    # item 7: TSIG with a key nobody knows
    ("TSIG, unknown key: NOTAUTH + BADKEY", TSIG_WIRE, BOTH, "knot", (), "NSD drops the question"),
    ("TSIG with EDNS: OPT, then TSIG", signed(edns=True), BOTH, "knot", (), "NSD drops the question"),
    ("TSIG, unknown algorithm", signed(algorithm="hmac-sha512"), BOTH, "knot", (), "NSD drops the question"),
    ("TSIG before the OPT: FORMERR", with_counts(TSIG_UNSIGNED, ar=2) + TSIG_RR + opt(), BOTH, "knot", (),
     "NSD drops the question"),
    ("TSIG in the answer section: FORMERR", with_counts(TSIG_UNSIGNED, an=1, ar=0) + TSIG_RR, BOTH, "knot", (),
     "NSD drops the question"),
    ("TSIG in class IN: BADKEY", with_counts(TSIG_UNSIGNED, ar=1) + TSIG_RR[:15] + b"\x00\x01" + TSIG_RR[17:], BOTH, "knot", (),
     "NSD: FORMERR"),
    ("TSIG with a bad ECS: FORMERR with OPT",
     with_counts(TSIG_UNSIGNED, ar=2) + opt(ecs(1, 33, 0, b"\x0a\0\0\0\0")) + TSIG_RR, BOTH, "knot", (),
     "NSD checks the key first"),
    ("TSIG on AXFR over TCP: BADKEY", signed("conformance.test", "AXFR"), TCP, "knot", (), "NSD drops the question"),
    ("TSIG on AXFR over UDP: BADKEY", signed("conformance.test", "AXFR"), UDP, "nsd", ("qd", "question_echoed"),
     "Knot: NOTIMP; RFC 8945 5.2.2 makes BADKEY a MUST; the question is kept as for every BADKEY"),
    ("TSIG outside every zone: BADKEY", signed("www.example.org"), BOTH, "nsd", ("qd", "question_echoed"),
     "Knot: REFUSED; RFC 8945 5.2.2 makes BADKEY a MUST; the question is kept as for every BADKEY"),
]

# Behaviour where geodnsd matches neither reference in full: (name, wire, transports, expected, why).
OWN = [
    ("QDCOUNT 2 with OPT: FORMERR, no question, OPT",
     header(qd=2, ar=1) + Q_WWW + Q_WWW + opt(), BOTH,
     {"rcode": 1, "qd": 0, "opt": True, "answer": [], "authority": [], "additional": []},
     "Knot sends nothing, NSD a header; RFC 6891 7 wants the OPT"),
    ("OPT owner not the root: FORMERR, question, no OPT",
     header(ar=1) + Q_WWW + b"\x01a" + opt(), BOTH,
     {"rcode": 1, "qd": 1, "question_echoed": True, "opt": False},
     "NSD: FORMERR with the header only; Knot reads it as an OPT; RFC 6891 6.1.2: the owner MUST be root"),
    ("ECS bits beyond the prefix: FORMERR with OPT",
     header(ar=1) + Q_WWW + opt(ecs(1, 23, 0, b"\x0a\x00\x01")), BOTH,
     {"rcode": 1, "qd": 1, "question_echoed": True, "opt": True},
     "NSD and Knot answer; RFC 7871 6 says FORMERR"),
    ("ECS address longer than the prefix: FORMERR with OPT",
     header(ar=1) + Q_WWW + opt(ecs(1, 8, 0, b"\x0a\x00")), BOTH,
     {"rcode": 1, "qd": 1, "question_echoed": True, "opt": True},
     "NSD answers; Knot echoes the malformed option; RFC 7871 6 says FORMERR"),
    ("two ECS options: FORMERR with OPT",
     header(ar=1) + Q_WWW + opt(ecs(1, 24, 0, b"\x0a\0\0") * 2), BOTH,
     {"rcode": 1, "qd": 1, "question_echoed": True, "opt": True},
     "NSD and Knot use the first"),
    ("IXFR over TCP without the client's SOA: FORMERR",
     header(ar=1) + question("conformance.test", 251) + opt(), TCP,
     {"rcode": 1, "qd": 1, "question_echoed": True, "opt": True},
     "RFC 1995 3 requires the SOA; NSD: REFUSED (ACL first), Knot: NOTAUTH"),
    ("NOTIFY for a served zone: REFUSED, question, OPT",
     header(NOTIFY, ar=1) + question("conformance.test", 6) + opt(), BOTH,
     {"rcode": 5, "qd": 1, "question_echoed": True, "opt": True},
     "no secondary here (issue 15): NSD says REFUSED with the header only, Knot NOTAUTH"),
    ("NOTIFY for another zone: REFUSED",
     header(NOTIFY, ar=1) + question("example.org", 6) + opt(), BOTH,
     {"rcode": 5, "qd": 1, "question_echoed": True, "opt": True},
     "NSD: NXDOMAIN, header only; Knot: NOTAUTH"),
    ("NOTIFY without EDNS: REFUSED, no OPT",
     header(NOTIFY) + question("conformance.test", 6), BOTH,
     {"rcode": 5, "qd": 1, "question_echoed": True, "opt": False},
     "NSD: REFUSED; Knot: NOTAUTH"),
    ("signed NOTIFY: NOTAUTH + BADKEY",
     with_counts(header(NOTIFY) + TSIG_UNSIGNED[12:], ar=1) + TSIG_RR, BOTH,
     {"rcode": 9, "qd": 1, "question_echoed": True, "tsig_error": 17, "tsig_last": True},
     "Knot: NOTAUTH without TSIG, NSD: NXDOMAIN; RFC 8945 5.2.2 makes BADKEY a MUST"),
]


class Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.servers = {}
        try:
            cls.servers["nsd"] = Nsd(ZONES).start()
            cls.servers["knot"] = Knot(ZONES).start()
            cls.servers["geodnsd"] = Server(zones=ZONES).start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers.values():
            s.stop()

    def ask(self, server, wire, transport):
        return Server.raw(server, wire, transport, timeout=1.0)

    def test_cases_against_references(self):
        for name, wire, transports, match, ignore, why in CASES:
            for t in transports:
                with self.subTest(case=name, transport=t):
                    raw = {n: self.ask(s, wire, t) for n, s in self.servers.items()}
                    got = {n: summary(r, wire) for n, r in raw.items()}
                    geo = got["geodnsd"]
                    self.assertIsNotNone(geo, "geodnsd did not answer")
                    self.assertEqual(raw["geodnsd"][:2], wire[:2])  # id echoed
                    self.assertEqual(geo["trailing"], 0)
                    self.assertEqual(geo["opcode"], (wire[2] >> 3) & 0xF)
                    if match == "both":
                        self.assertEqual(differences(got["nsd"], got["knot"]), [],
                                         "NSD and Knot differ: the case needs a reference")
                        ref = got["knot"]
                    else:
                        ref = got[match]
                    self.assertEqual(differences(geo, ref, ignore), [],
                                     "geodnsd vs %s (%s)\n geodnsd %s\n %s %s" % (match, why, geo, match, ref))

    def test_own_behaviour_where_references_differ(self):
        for name, wire, transports, expected, why in OWN:
            for t in transports:
                with self.subTest(case=name, transport=t):
                    geo = summary(self.ask(self.servers["geodnsd"], wire, t), wire)
                    self.assertIsNotNone(geo)
                    self.assertEqual(geo["trailing"], 0)
                    self.assertEqual({k: geo[k] for k in expected}, expected, why)
                    # The references do answer otherwise (else the case belongs in CASES).
                    refs = [summary(self.ask(self.servers[n], wire, t), wire) for n in ("nsd", "knot")]
                    self.assertTrue(any(r is None or {k: r[k] for k in expected} != expected for r in refs),
                                    "a reference now agrees: move the case to CASES")

    def test_badkey_tsig_copies_the_request(self):
        # RFC 8945 5.2.2/5.3.2: key name copied, MAC size 0, error BADKEY; last record.
        for t in ("udp", "tcp"):
            with self.subTest(transport=t):
                geo = summary(self.ask(self.servers["geodnsd"], TSIG_WIRE, t), TSIG_WIRE)
                knot = summary(self.ask(self.servers["knot"], TSIG_WIRE, t), TSIG_WIRE)
                for s in (geo, knot):
                    self.assertEqual((s["rcode"], s["tsig_error"], s["tsig_last"], s["tsig_mac_size"], s["tsig_key"]),
                                     (9, 17, True, 0, "unknown-key."))
                raw_geo = self.ask(self.servers["geodnsd"], TSIG_WIRE, t)
                raw_knot = self.ask(self.servers["knot"], TSIG_WIRE, t)
                self.assertEqual(raw_geo, raw_knot)  # byte for byte, as Knot


def missing_references():
    return [why for why in (Nsd.missing(), Knot.missing()) if why]


if __name__ == "__main__":
    missing = missing_references()
    if missing:
        print("SKIPPED: " + "; ".join(missing), flush=True)
        sys.exit(SKIP_EXIT)
    unittest.main(verbosity=2)
