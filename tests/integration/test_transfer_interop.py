"""Zone transfers and TSIG of issue 15 against real clients: dnspython, dig
(BIND) and kdig (Knot) take zones by AXFR/IXFR from tests/tools/xfr_driver,
which serves one zone with core/tsig, core/acl and zones/transfer before those
are wired into geodnsd. Loopback only; the driver is stopped by PID.
"""
import base64
import os
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.xfr
import dns.zone

from harness import stop_process

DRIVER = os.environ.get("XFR_DRIVER", os.path.join(os.path.dirname(__file__),
                                                   "../../build/dev/tests/xfr_driver"))
ORIGIN = "xfr.test."
SECRET = base64.b64encode(bytes(range(32))).decode()
SECRET512 = base64.b64encode(bytes(range(100, 164))).decode()
KEYRING = dns.tsigkeyring.from_text({
    "xfr-key.": ("hmac-sha256", SECRET),
    "big-key.": ("hmac-sha512", SECRET512),
})


def zone_text(hosts):
    lines = [
        "$ORIGIN xfr.test.", "$TTL 300",
        "@ SOA ns1 hostmaster 2024010101 3600 600 86400 300",
        "@ NS ns1", "@ NS ns2.other.test.", "@ MX 10 mail",
        "ns1 A 192.0.2.1", "ns1 AAAA 2001:db8::1", "mail A 192.0.2.2",
        "www CNAME @", "*.wild TXT \"wildcard\"", "_sip._udp SRV 0 5 5060 sip", "sip A 192.0.2.3",
        "sub NS ns.sub", "sub DS 12345 13 2 " + "0123456789ABCDEF" * 4, "ns.sub A 192.0.2.53",
        "geo TXT \"static beside the pool\"",
    ]
    lines += ["h%d A 10.%d.%d.%d" % (i, i // 65536, (i // 256) % 256, i % 256) for i in range(hosts)]
    return "\n".join(lines) + "\n"


# The records the driver supplies for bound names (--bound), as a pool's
# answer for a client with no location would be.
BOUND = ["geo=A:192.0.2.10,192.0.2.11", "geo=AAAA:2001:db8::10", "alias=CNAME:www.xfr.test."]
BOUND_TEXT = ("geo 30 A 192.0.2.10\ngeo 30 A 192.0.2.11\ngeo 30 AAAA 2001:db8::10\n"
              "alias 30 CNAME www\n")


class Driver:
    def __init__(self, zone, *args):
        self.dir = tempfile.mkdtemp(prefix="xfr-driver-")
        self.zone_path = os.path.join(self.dir, "xfr.test.zone")
        with open(self.zone_path, "w") as f:
            f.write(zone)
        self.proc = subprocess.Popen([DRIVER, "--zone", self.zone_path, "--origin", ORIGIN] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("xfr_driver did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])

    def stop(self):
        stop_process(self.proc)
        for s in (self.proc.stdout, self.proc.stderr):
            if s:
                s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def exchange(port, wire, timeout=10):
    """Sends one framed query over TCP and reads framed answers until the
    transfer ends (the driver closes the connection)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(struct.pack("!H", len(wire)) + wire)
    out = []
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
            n = struct.unpack("!H", buf[:2])[0]
            out.append(buf[2:2 + n])
            buf = buf[2 + n:]
    s.close()
    return out


def expected_zone(text):
    return dns.zone.from_text(text, origin=ORIGIN, relativize=False)


class TransferInterop(unittest.TestCase):
    def start(self, zone, *args):
        d = Driver(zone, *args)
        self.addCleanup(d.stop)
        return d

    def transfer(self, port, **kw):
        z = dns.zone.Zone(ORIGIN, relativize=False)
        query, _ = dns.xfr.make_query(z, serial=None, **kw)
        dns.query.inbound_xfr("127.0.0.1", z, query, port=port, timeout=10, lifetime=60)
        return z

    def test_dnspython_takes_the_zone_unsigned_and_signed(self):
        text = zone_text(5000)
        d = self.start(text, "--key", "xfr-key:hmac-sha256:" + SECRET,
                       "--key", "big-key:hmac-sha512:" + SECRET512, *sum((["--bound", b] for b in BOUND), []))
        want = expected_zone(text + BOUND_TEXT)
        for name, kw in [("unsigned", {}),
                         ("hmac-sha256", {"keyring": KEYRING, "keyname": "xfr-key."}),
                         ("hmac-sha512", {"keyring": KEYRING, "keyname": "big-key."})]:
            with self.subTest(name):
                got = self.transfer(d.port, **kw)
                self.assertEqual(got, want)

    def test_every_message_of_a_signed_stream_verifies(self):
        d = self.start(zone_text(3000), "--key", "xfr-key:hmac-sha256:" + SECRET, "--max-message", "4096")
        q = dns.message.make_query(ORIGIN, "AXFR")
        q.use_tsig(KEYRING, keyname="xfr-key.")
        msgs = exchange(d.port, q.to_wire())
        self.assertGreater(len(msgs), 10)
        ctx = None
        records = 0
        for i, wire in enumerate(msgs):
            self.assertLessEqual(len(wire), 4096)
            # dnspython checks each MAC against the previous one (RFC 8945 5.3.1).
            m = dns.message.from_wire(wire, keyring=KEYRING, request_mac=q.mac, xfr=True,
                                      origin=None, tsig_ctx=ctx, multi=True, one_rr_per_rrset=True)
            ctx = m.tsig_ctx
            self.assertTrue(m.had_tsig, "message %d unsigned" % i)
            self.assertEqual(len(m.question), 1 if i == 0 else 0)
            records += sum(len(r) for r in m.answer)
        # every record, the SOA twice
        self.assertEqual(records, len(list(expected_zone(zone_text(3000)).iterate_rdatas())) + 1)

        # A message taken out of the stream breaks the chain of MACs.
        ctx = None
        with self.assertRaises(dns.tsig.BadSignature):
            for wire in msgs[:2] + msgs[3:]:
                m = dns.message.from_wire(wire, keyring=KEYRING, request_mac=q.mac, xfr=True,
                                          tsig_ctx=ctx, multi=True, one_rr_per_rrset=True)
                ctx = m.tsig_ctx

    def test_tsig_errors_reach_the_client_as_rfc_8945_says(self):
        d = self.start(zone_text(10), "--key", "xfr-key:hmac-sha256:" + SECRET, "--require-tsig")
        other_secret = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha256", SECRET512)})
        unknown = dns.tsigkeyring.from_text({"nobody.": ("hmac-sha256", SECRET)})
        wrong_alg = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha512", SECRET)})
        cases = [
            ("another secret", other_secret, "xfr-key.", 0, dns.tsig.PeerBadSignature),
            ("an unknown key", unknown, "nobody.", 0, dns.tsig.PeerBadKey),
            ("the key with another algorithm", wrong_alg, "xfr-key.", 0, dns.tsig.PeerBadKey),
            ("signed 20 minutes ago", KEYRING, "xfr-key.", -1200, dns.tsig.PeerBadTime),
            ("signed 20 minutes ahead", KEYRING, "xfr-key.", 1200, dns.tsig.PeerBadTime),
        ]
        for name, ring, keyname, skew, error in cases:
            with self.subTest(name):
                q = dns.message.make_query(ORIGIN, "AXFR")
                q.use_tsig(ring, keyname=keyname)
                real = time.time
                time.time = lambda: real() + skew
                try:
                    wire = q.to_wire()
                finally:
                    time.time = real
                msgs = exchange(d.port, wire)
                self.assertEqual(len(msgs), 1)
                self.assertEqual(dns.rcode.from_flags(struct.unpack("!H", msgs[0][2:4])[0], 0),
                                 dns.rcode.NOTAUTH)
                with self.assertRaises(error):
                    dns.message.from_wire(msgs[0], keyring=ring, request_mac=q.mac)
                if error is dns.tsig.PeerBadTime:
                    self.check_badtime_answer(msgs[0], ring, keyname, q)

    def check_badtime_answer(self, wire, ring, keyname, q):
        """A BADTIME answer is signed (RFC 8945 5.3.2): the request's time in
        Time Signed, ours in Other Data; its MAC computed by dnspython's own
        digest routine over the request MAC, the answer and the variables."""
        qlen = len(q.question[0].name.to_wire()) + 4
        tsig_start = 12 + qlen
        owner_len = len(dns.name.from_text(keyname).to_wire())
        rdata_start = tsig_start + owner_len + 10
        rdlen = struct.unpack("!H", wire[rdata_start - 2:rdata_start])[0]
        rd = dns.rdata.from_wire(dns.rdataclass.ANY, dns.rdatatype.TSIG, wire, rdata_start, rdlen)
        self.assertEqual(rd.error, dns.rcode.BADTIME)
        self.assertEqual(rd.time_signed, q.tsig[0].time_signed)
        self.assertEqual(len(rd.other), 6)
        server_time = int.from_bytes(rd.other, "big")
        self.assertLess(abs(server_time - time.time()), 60)
        unsigned = wire[:10] + struct.pack("!H", 0) + wire[12:tsig_start]
        key = dns.tsig.Key(keyname, ring[dns.name.from_text(keyname)].secret, rd.algorithm)
        ctx = dns.tsig._digest(unsigned, key, rd, None, q.mac, None, False)
        self.assertEqual(ctx.sign(), rd.mac)

    def test_refused_without_tsig_or_outside_the_acl(self):
        text = zone_text(10)
        must_sign = self.start(text, "--key", "xfr-key:hmac-sha256:" + SECRET, "--require-tsig")
        elsewhere = self.start(text, "--key", "xfr-key:hmac-sha256:" + SECRET, "--allow", "192.0.2.0/24")
        for name, d, kw in [("no TSIG where one is required", must_sign, {}),
                            ("signed, but from outside the ACL", elsewhere,
                             {"keyring": KEYRING, "keyname": "xfr-key."})]:
            with self.subTest(name):
                with self.assertRaises(dns.xfr.TransferError) as e:
                    self.transfer(d.port, **kw)
                self.assertEqual(e.exception.rcode, dns.rcode.REFUSED)
        # The same client is served when it signs, and by an ACL that has it.
        self.assertEqual(self.transfer(must_sign.port, keyring=KEYRING, keyname="xfr-key."),
                         expected_zone(text))
        open_acl = self.start(text, "--allow", "!127.0.0.2", "--allow", "127.0.0.0/8")
        self.assertEqual(self.transfer(open_acl.port), expected_zone(text))

    def test_ixfr_is_answered_axfr_style_or_with_the_soa_alone(self):
        text = zone_text(100)
        d = self.start(text)
        for name, serial, whole in [("an older serial", 2024010100, True),
                                    ("the current serial", 2024010101, False),
                                    ("a newer serial", 2024010102, False)]:
            with self.subTest(name):
                q = dns.message.make_query(ORIGIN, "IXFR")
                q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA",
                                                       "ns1.xfr.test. h.xfr.test. %d 1 2 3 4" % serial))
                msgs = exchange(d.port, q.to_wire())
                answers = [rr for w in msgs for rrset in dns.message.from_wire(
                    w, xfr=True, one_rr_per_rrset=True).answer for rr in rrset]
                if whole:
                    self.assertEqual(len(answers), len(list(expected_zone(text).iterate_rdatas())) + 1)
                else:
                    self.assertEqual(len(msgs), 1)
                    self.assertEqual(len(answers), 1)
                    self.assertEqual(answers[0].rdtype, dns.rdatatype.SOA)
        # dnspython's own IXFR client takes the AXFR-style answer as a new zone.
        z = dns.zone.Zone(ORIGIN, relativize=False)
        query, _ = dns.xfr.make_query(z, serial=2024010100)
        dns.query.inbound_xfr("127.0.0.1", z, query, port=d.port, timeout=10)
        self.assertEqual(z, expected_zone(text))

    def test_kdig_and_dig_verify_our_signatures(self):
        text = zone_text(3000)
        d = self.start(text, "--key", "xfr-key:hmac-sha256:" + SECRET, "--require-tsig",
                       "--max-message", "16384")
        total = len(list(expected_zone(text).iterate_rdatas())) + 1  # the closing SOA
        tools = [
            ("kdig", ["kdig", "-y", "hmac-sha256:xfr-key:" + SECRET, "@127.0.0.1", "-p", str(d.port),
                      ORIGIN, "AXFR", "+nocomments", "+time=10"]),
            ("dig", ["dig", "-y", "hmac-sha256:xfr-key:" + SECRET, "@127.0.0.1", "-p", str(d.port),
                     ORIGIN, "AXFR", "+nocomments", "+time=10"]),
        ]
        for name, argv in tools:
            with self.subTest(name):
                self.assertIsNotNone(shutil.which(argv[0]), "%s is in scripts/install-deps" % argv[0])
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)
                out = r.stdout + r.stderr
                for bad in ("Couldn't verify", "failed", "WARNING", "BADSIG", "error"):
                    self.assertNotIn(bad, out)
                lines = [l for l in r.stdout.splitlines() if l and not l.startswith(";")
                         and "\tTSIG\t" not in l and " TSIG " not in l]
                self.assertEqual(len(lines), total)
        # Negative controls: a damaged MAC in one message of a stream signed
        # with the right key must be refused, so the passes above mean the
        # tools checked our signatures. dig checks every message (damage the
        # third); kdig 3.2 checks only the first message of a transfer (seen:
        # it accepts a damaged second, third or last), dnspython every one
        # (test_every_message_of_a_signed_stream_verifies).
        for (name, argv), damaged in zip(tools, (1, 3)):
            with self.subTest("%s: a damaged MAC in message %d" % (name, damaged)):
                bad = self.start(text, "--key", "xfr-key:hmac-sha256:" + SECRET,
                                 "--max-message", "16384", "--corrupt-mac", str(damaged))
                argv = [str(bad.port) if a == str(d.port) else a for a in argv]
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                out = r.stdout + r.stderr
                self.assertTrue("Couldn't verify signature" in out or "failed to query" in out,
                                out[-3000:])

if __name__ == "__main__":
    unittest.main()
