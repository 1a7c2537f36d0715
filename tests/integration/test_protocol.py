"""EDNS0, size limits, malformed input and RFC 7766 TCP against the real binary."""
import os
import random
import socket
import struct
import time
import unittest

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from harness import TRANSPORTS, Server, read_frame


def header(id_=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def question(name=b"\x03www\x07example\x04test\x00", qtype=1, qclass=1):
    return name + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, version=0, do=False, options=b""):
    ttl = (version << 16) | (0x8000 if do else 0)
    return b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(options)) + options


def rcode_of(raw):
    return struct.unpack("!H", raw[2:4])[0] & 0xF


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config_extra={"limits": {"max_udp_payload": 1232, "tcp_idle_timeout_ms": 1500,
                                                  "max_tcp_connections": 16},
                                       "chaos": {"version": "geodnsd-test"}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- EDNS0 (RFC 6891) ----
    def test_opt_in_every_edns_response(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                for name, rdtype in (("www.example.test.", "A"), ("nope.example.test.", "A"),
                                     ("www.example.org.", "A"), ("x.sub.example.test.", "A")):
                    r = self.srv.ask(name, rdtype, t, use_edns=0, payload=4096)
                    self.assertEqual(r.edns, 0, name)
                    self.assertEqual(r.payload, 1232, name)  # our size, advertised
                r = self.srv.ask("www.example.test.", "A", t, use_edns=False)
                self.assertEqual(r.edns, -1)

    def test_do_bit_copied(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("www.example.test.", "A", t, use_edns=0, want_dnssec=True)
                self.assertTrue(r.ednsflags & dns.flags.DO)
                r = self.srv.ask("www.example.test.", "A", t, use_edns=0, want_dnssec=False)
                self.assertFalse(r.ednsflags & dns.flags.DO)

    def test_badvers(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                raw = self.srv.raw(header(ar=1) + question() + opt(version=1), t)
                r = dns.message.from_wire(raw)
                self.assertEqual(r.rcode(), dns.rcode.BADVERS)
                self.assertEqual(r.edns, 0)
                self.assertEqual(len(r.answer), 0)

    def test_two_opts_formerr(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                raw = self.srv.raw(header(ar=2) + question() + opt() + opt(), t)
                self.assertEqual(rcode_of(raw), dns.rcode.FORMERR)

    def test_unknown_options_ignored(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                options = struct.pack("!HH", 65001, 3) + b"abc" + struct.pack("!HH", 10, 8) + b"12345678"
                raw = self.srv.raw(header(ar=1) + question() + opt(options=options), t)
                r = dns.message.from_wire(raw)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(r.answer[0][0].address, "192.0.2.10")
                self.assertEqual(len(r.options), 0)  # nothing echoed

    def test_malformed_option_list_formerr(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                bad = struct.pack("!HH", 65001, 30) + b"abc"  # option length runs past the RDATA
                raw = self.srv.raw(header(ar=1) + question() + opt(options=bad), t)
                self.assertEqual(rcode_of(raw), dns.rcode.FORMERR)

    # ---- size limits ----
    def test_no_edns_limit_512_tc(self):
        raw = self.srv.raw(dns.message.make_query("big.example.test.", "TXT", use_edns=False).to_wire(), "udp")
        self.assertLessEqual(len(raw), 512)
        r = dns.message.from_wire(raw)
        self.assertTrue(r.flags & dns.flags.TC)
        self.assertEqual(len(r.answer), 0)  # one RRset that does not fit: cut whole

    def test_client_size_honoured_and_small_sizes_mean_512(self):
        for size, limit in ((300, 512), (512, 512), (1000, 1000), (4096, 1232)):
            with self.subTest(size=size):
                q = dns.message.make_query("big.example.test.", "TXT", use_edns=0, payload=size)
                raw = self.srv.raw(q.to_wire(), "udp")
                self.assertLessEqual(len(raw), limit)
                r = dns.message.from_wire(raw)
                self.assertTrue(r.flags & dns.flags.TC)
                self.assertEqual(r.edns, 0)

    def test_cut_at_rrset_boundary(self):
        # CNAME + big TXT: the CNAME fits, the TXT RRset does not -> CNAME kept, TC set.
        q = dns.message.make_query("bigalias.example.test.", "TXT", use_edns=False)
        raw = self.srv.raw(q.to_wire(), "udp")
        r = dns.message.from_wire(raw)
        self.assertTrue(r.flags & dns.flags.TC)
        self.assertEqual([x.rdtype for x in r.answer], [dns.rdatatype.CNAME])

    def test_fits_with_large_edns(self):
        q = dns.message.make_query("big.example.test.", "A", use_edns=0, payload=1232)
        r = dns.message.from_wire(self.srv.raw(q.to_wire(), "udp"))
        self.assertFalse(r.flags & dns.flags.TC)

    def test_tcp_answers_complete(self):
        q = dns.message.make_query("big.example.test.", "TXT", use_edns=False)
        raw = self.srv.raw(q.to_wire(), "tcp")
        self.assertGreater(len(raw), 1232)
        r = dns.message.from_wire(raw)
        self.assertFalse(r.flags & dns.flags.TC)
        self.assertEqual(len(r.answer[0]), 30)

    # ---- header and question checks ----
    def test_opcode_not_query_notimp(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                for opcode in (dns.opcode.STATUS, dns.opcode.IQUERY):
                    raw = self.srv.raw(header(flags=opcode << 11) + question(), t)
                    self.assertEqual(rcode_of(raw), dns.rcode.NOTIMP, opcode)
                    self.assertEqual((struct.unpack("!H", raw[2:4])[0] >> 11) & 0xF, opcode)

    def test_qdcount_not_one_formerr(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                raw = self.srv.raw(header(qd=0), t)
                self.assertEqual(rcode_of(raw), dns.rcode.FORMERR)
                raw = self.srv.raw(header(qd=2) + question() + question(), t)
                self.assertEqual(rcode_of(raw), dns.rcode.FORMERR)
                self.assertEqual(raw[:2], b"\x12\x34")

    def test_qr_set_dropped(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                self.assertIsNone(self.srv.raw(header(flags=0x8000) + question(), t, timeout=0.5))

    def test_class_other_than_in_refused(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                for qclass in (dns.rdataclass.HS, 42):
                    raw = self.srv.raw(header() + question(qclass=qclass), t)
                    self.assertEqual(rcode_of(raw), dns.rcode.REFUSED, qclass)

    def test_chaos(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("version.bind.", "TXT", t, rdclass="CH")
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(r.answer[0].rdclass, dns.rdataclass.CH)
                self.assertEqual(r.answer[0][0].strings, (b"geodnsd-test",))
                r = self.srv.ask("id.server.", "TXT", t, rdclass="CH")  # not configured
                self.assertEqual(r.rcode(), dns.rcode.REFUSED)

    def test_any_is_minimal(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("www.example.test.", "ANY", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(len(r.answer), 1)  # one RRset (RFC 8482)

    def test_transfers_without_a_transfer_block(self):
        # The zone has no "transfer" block (test_secondaries covers allowed ones).
        q = b"\x07example\x04test\x00"
        raw = self.srv.raw(header() + question(q, qtype=252), "tcp")
        self.assertEqual(rcode_of(raw), dns.rcode.REFUSED)
        raw = self.srv.raw(header() + question(q, qtype=251), "tcp")  # IXFR without its SOA
        self.assertEqual(rcode_of(raw), dns.rcode.FORMERR)
        raw = self.srv.raw(header() + question(q, qtype=251), "udp")  # IXFR over UDP: to TCP
        self.assertEqual(rcode_of(raw), dns.rcode.NOERROR)
        self.assertTrue(dns.message.from_wire(raw).flags & dns.flags.TC)

    def test_malformed_packets_never_crash(self):
        rng = random.Random(7)
        base = dns.message.make_query("www.example.test.", "A").to_wire()
        cases = [b"", b"\x00", b"\x12\x34\x00\x00\x00\x01", header() + b"\x03ww",
                 header() + b"\xc0\x0c\x00\x01\x00\x01",  # pointer loop in the question
                 header() + b"\x40abc\x00\x00\x01\x00\x01",  # extended label type
                 header(ar=1) + question() + b"\x00\x00\x29",  # truncated OPT
                 header(an=1) + question(), header(ar=5) + question() + opt()]
        for _ in range(300):
            b = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            cases.append(bytes(b[:rng.randint(0, len(b))]))
        # Shorter than a header or QR=1: dropped (dns-behaviour.md). Anything
        # else gets a response: FORMERR, NOTIMP, REFUSED or an answer.
        dropped = [w for w in cases if len(w) < 12 or w[2] & 0x80]
        answered = [w for w in cases if not (len(w) < 12 or w[2] & 0x80)]
        self.assertGreater(len(answered), 100)
        self.assertGreater(len(dropped), 20)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((self.srv.host, self.srv.port))
        s.settimeout(2.0)
        try:
            for wire in answered:
                s.send(wire)
                try:
                    raw = s.recv(65535)
                except socket.timeout:
                    self.fail("no response to %s" % wire.hex())
                self.assertEqual(raw[:2], wire[:2], wire.hex())  # id echoed
                self.assertTrue(raw[2] & 0x80, wire.hex())  # QR
                self.assertEqual(raw[2] & 0x78, wire[2] & 0x78, wire.hex())  # opcode echoed
            # The dropped ones, then a sentinel query on the same socket (same
            # worker, same order): the sentinel's answer must come first and alone.
            for wire in dropped:
                s.send(wire)
            sentinel = header(id_=0xBEEF) + question()
            s.send(sentinel)
            self.assertEqual(s.recv(65535)[:2], b"\xbe\xef")
            s.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                s.recv(65535)
        finally:
            s.close()
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("www.example.test.", "A", t)  # still alive
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)

    def test_malformed_formerr_rcodes(self):
        for wire in (header() + b"\xc0\x0c\x00\x01\x00\x01", header(an=1) + question(),
                     header(ar=1) + question() + b"\x00\x00\x29"):
            raw = self.srv.raw(wire, "udp")
            self.assertEqual(rcode_of(raw), dns.rcode.FORMERR)

    # ---- TCP (RFC 7766) ----
    def connect(self):
        return socket.create_connection((self.srv.host, self.srv.port), timeout=3)

    def test_tcp_pipelined_queries_answered_in_order_and_whole(self):
        s = self.connect()
        asked = [("www", "A", dns.rcode.NOERROR, 1), ("mail", "AAAA", dns.rcode.NOERROR, 1),
                 ("nope", "A", dns.rcode.NXDOMAIN, 0), ("big", "TXT", dns.rcode.NOERROR, 30),
                 ("alias", "A", dns.rcode.NOERROR, 2), ("sip", "A", dns.rcode.NOERROR, 1),
                 ("big", "TXT", dns.rcode.NOERROR, 30), ("deep.ent", "A", dns.rcode.NOERROR, 1)] * 4
        out = b""
        for i, (n, t, _, _) in enumerate(asked):
            q = dns.message.make_query(n + ".example.test.", t)
            q.id = 1000 + i
            w = q.to_wire()
            out += struct.pack("!H", len(w)) + w
        s.sendall(out)  # all at once: many frames per segment, big answers among them
        for i, (n, t, rcode, count) in enumerate(asked):
            frame = read_frame(s)
            self.assertIsNotNone(frame, "connection closed after %d of %d answers" % (i, len(asked)))
            r = dns.message.from_wire(frame)
            self.assertEqual(r.id, 1000 + i)  # in the order asked (dns-behaviour.md)
            self.assertEqual(r.question[0].name.to_text(), n + ".example.test.")
            self.assertEqual(r.rcode(), rcode)
            self.assertFalse(r.flags & dns.flags.TC)
            self.assertEqual(sum(len(rr) for rr in r.answer), count, r)
        # The connection stays open for more.
        w = dns.message.make_query("www.example.test.", "A").to_wire()
        s.sendall(struct.pack("!H", len(w)) + w)
        self.assertEqual(dns.message.from_wire(read_frame(s)).answer[0][0].address, "192.0.2.10")
        s.close()

    def test_tcp_split_frames(self):
        s = self.connect()
        w = dns.message.make_query("www.example.test.", "A").to_wire()
        framed = struct.pack("!H", len(w)) + w
        for b in framed:  # one byte at a time
            s.send(bytes([b]))
        r = dns.message.from_wire(read_frame(s))
        s.close()
        self.assertEqual(r.answer[0][0].address, "192.0.2.10")

    def test_tcp_idle_timeout(self):
        s = self.connect()
        t0 = time.monotonic()
        s.settimeout(5)
        self.assertEqual(s.recv(10), b"")  # server closes the idle connection
        elapsed = time.monotonic() - t0
        s.close()
        self.assertGreater(elapsed, 1.0)
        self.assertLess(elapsed, 4.0)

    def test_slow_and_half_open_clients_do_not_block(self):
        slow = self.connect()
        slow.sendall(b"\x00\x40\x12\x34")  # a frame that never completes
        silent = self.connect()  # connects, sends nothing
        # A client that never reads its answers (pipelines many queries).
        hog = self.connect()
        w = dns.message.make_query("big.example.test.", "TXT").to_wire()
        hog.setblocking(False)
        try:
            for _ in range(2000):
                hog.send(struct.pack("!H", len(w)) + w)
        except BlockingIOError:
            pass
        t0 = time.monotonic()
        for t in TRANSPORTS:
            r = self.srv.ask("www.example.test.", "A", t)
            self.assertEqual(r.rcode(), dns.rcode.NOERROR)
        self.assertLess(time.monotonic() - t0, 1.0)
        for s in (slow, silent, hog):
            s.close()


class TcpLimits(unittest.TestCase):
    """max_tcp_connections and tcp_max_queries_per_connection, with an idle
    timeout far longer than any wait here, so only a limit can close."""
    IDLE_S = 20

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(config_extra={"limits": {"tcp_idle_timeout_ms": cls.IDLE_S * 1000,
                                                  "max_tcp_connections": 4,
                                                  "tcp_max_queries_per_connection": 3}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def connect(self):
        return socket.create_connection((self.srv.host, self.srv.port), timeout=3)

    def exchange(self, s, qid):
        q = dns.message.make_query("www.example.test.", "A")
        q.id = qid
        w = q.to_wire()
        s.sendall(struct.pack("!H", len(w)) + w)
        frame = read_frame(s)
        return dns.message.from_wire(frame) if frame else None

    def closed_within(self, s, seconds):
        """True when the server closes `s` (EOF or reset) within `seconds`."""
        s.settimeout(seconds)
        try:
            return s.recv(10) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def test_connections_over_the_limit_are_closed_at_once(self):
        held = [self.connect() for _ in range(4)]
        try:
            for i, s in enumerate(held):  # each of the 4 is accepted and served
                r = self.exchange(s, i)
                self.assertIsNotNone(r, "connection %d was not served" % i)
                self.assertEqual(r.id, i)
            extra = self.connect()
            t0 = time.monotonic()
            closed = self.closed_within(extra, 2.0)
            elapsed = time.monotonic() - t0
            extra.close()
            self.assertTrue(closed, "a 5th connection stayed open (limit 4)")
            self.assertLess(elapsed, 1.0)  # the limit, not the 20 s idle timeout
            for s in held:  # the 4 are still open and served
                self.assertIsNotNone(self.exchange(s, 9))
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 3
        while True:  # the slots free up again
            s = self.connect()
            r = self.exchange(s, 42)
            s.close()
            if r is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIsNotNone(r)

    def test_a_connection_closes_after_its_queries(self):
        s = self.connect()
        try:
            for i in range(3):
                r = self.exchange(s, i)
                self.assertIsNotNone(r, "closed after %d queries (limit 3)" % i)
            t0 = time.monotonic()
            self.assertTrue(self.closed_within(s, 2.0), "still open after 3 queries (limit 3)")
            self.assertLess(time.monotonic() - t0, 1.0)
        finally:
            s.close()
        # Pipelined: the first three are answered in order, then the close.
        s = self.connect()
        try:
            out = b""
            for i in range(5):
                q = dns.message.make_query("www.example.test.", "A")
                q.id = 100 + i
                w = q.to_wire()
                out += struct.pack("!H", len(w)) + w
            s.sendall(out)
            for i in range(3):
                frame = read_frame(s)
                self.assertIsNotNone(frame)
                self.assertEqual(dns.message.from_wire(frame).id, 100 + i)
            self.assertTrue(self.closed_within(s, 2.0))
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
