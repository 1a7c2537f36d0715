"""Authoritative answer semantics against the real binary, over UDP and TCP."""
import unittest

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from harness import TRANSPORTS, Server

A, AAAA, NS, SOA, CNAME, TXT, MX, SRV, DS = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.NS,
                                             dns.rdatatype.SOA, dns.rdatatype.CNAME, dns.rdatatype.TXT,
                                             dns.rdatatype.MX, dns.rdatatype.SRV, dns.rdatatype.DS)


def names(section):
    return [(r.name.to_text(), r.rdtype) for r in section]


class Answers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_authoritative_answer_has_aa(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("www.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertFalse(r.flags & dns.flags.RA)
                self.assertEqual(len(r.answer), 1)
                self.assertEqual([x.address for x in r.answer[0]], ["192.0.2.10"])
                self.assertEqual(r.answer[0].ttl, 3600)

    def test_nxdomain_has_soa_with_negative_ttl(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("nope.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(len(r.answer), 0)
                self.assertEqual(names(r.authority), [("example.test.", SOA)])
                self.assertEqual(r.authority[0].ttl, 300)  # min(SOA TTL 3600, MINIMUM 300)

    def test_nodata_has_soa(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("mail.example.test.", "TXT", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(len(r.answer), 0)
                self.assertEqual(names(r.authority), [("example.test.", SOA)])
                self.assertEqual(r.authority[0].ttl, 300)

    def test_negative_ttl_uses_soa_ttl_when_smaller(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("nope.child.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
                self.assertEqual(r.authority[0].ttl, 60)  # child: SOA TTL 600, MINIMUM 60

    def test_empty_non_terminal_is_nodata(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("ent.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(len(r.answer), 0)
                self.assertEqual(names(r.authority), [("example.test.", SOA)])

    def test_cname_chain_followed_in_zone(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("chain.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(names(r.answer), [("chain.example.test.", CNAME), ("alias.example.test.", CNAME),
                                                   ("www.example.test.", A)])

    def test_cname_query_returns_cname_only(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("chain.example.test.", "CNAME", t)
                self.assertEqual(names(r.answer), [("chain.example.test.", CNAME)])

    def test_cname_out_of_zone_returned_as_is(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("external.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(names(r.answer), [("external.example.test.", CNAME)])
                self.assertEqual(r.answer[0][0].target.to_text(), "target.example.net.")

    def test_cname_loop_is_bounded(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("loop1.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(names(r.answer), [("loop1.example.test.", CNAME), ("loop2.example.test.", CNAME)])

    def test_cname_to_missing_name_is_nxdomain(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("tonx.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)  # RFC 6604: rcode of the last name
                self.assertEqual(names(r.answer), [("tonx.example.test.", CNAME)])
                self.assertEqual(names(r.authority), [("example.test.", SOA)])

    def test_wildcard_owner_rewritten(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("anything.wild.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(names(r.answer), [("anything.wild.example.test.", A)])
                self.assertEqual(r.answer[0][0].address, "192.0.2.99")

    def test_wildcard_matches_several_labels_below_closest_encloser(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("a.b.c.wild.example.test.", "TXT", t)
                self.assertEqual(names(r.answer), [("a.b.c.wild.example.test.", TXT)])

    def test_wildcard_nodata(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("x.wild.example.test.", "AAAA", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(len(r.answer), 0)
                self.assertEqual(names(r.authority), [("example.test.", SOA)])

    def test_no_wildcard_match_below_existing_name(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("host.wild.example.test.", "A", t)
                self.assertEqual(r.answer[0][0].address, "192.0.2.98")
                r = self.srv.ask("sub.host.wild.example.test.", "A", t)  # closest encloser is host.wild
                self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
                r = self.srv.ask("host.wild.example.test.", "TXT", t)  # existing name: no wildcard TXT
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertEqual(len(r.answer), 0)

    def test_wildcard_cname_followed(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("q.cwild.example.test.", "A", t)
                self.assertEqual(names(r.answer), [("q.cwild.example.test.", CNAME), ("www.example.test.", A)])

    def test_referral(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("host.sub.example.test.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.NOERROR)
                self.assertFalse(r.flags & dns.flags.AA)
                self.assertEqual(len(r.answer), 0)
                self.assertEqual(names(r.authority), [("sub.example.test.", NS)])
                self.assertEqual(sorted(x.target.to_text() for x in r.authority[0]),
                                 ["ns.elsewhere.example.net.", "ns.sub.example.test."])
                self.assertEqual(sorted(names(r.additional)), [("ns.sub.example.test.", A), ("ns.sub.example.test.", AAAA)])

    def test_referral_at_cut_itself(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("sub.example.test.", "A", t)
                self.assertFalse(r.flags & dns.flags.AA)
                self.assertEqual(names(r.authority), [("sub.example.test.", NS)])

    def test_ds_at_cut_answered_by_parent(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("sub.example.test.", "DS", t)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(names(r.answer), [("sub.example.test.", DS)])

    def test_ds_for_loaded_child_answered_by_parent(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("child.example.test.", "DS", t)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(names(r.answer), [("child.example.test.", DS)])
                self.assertEqual(r.answer[0][0].key_tag, 54321)

    def test_longest_zone_answers(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("www.child.example.test.", "A", t)
                self.assertTrue(r.flags & dns.flags.AA)
                self.assertEqual(r.answer[0][0].address, "192.0.2.60")
                r = self.srv.ask("child.example.test.", "SOA", t)
                self.assertEqual(r.answer[0][0].serial, 7)

    def test_additional_for_mx_srv_ns(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("example.test.", "MX", t)
                self.assertEqual(sorted(names(r.additional)), [("mail.example.test.", A), ("mail.example.test.", AAAA)])
                r = self.srv.ask("_sip._udp.example.test.", "SRV", t)
                self.assertEqual(names(r.additional), [("sip.example.test.", A)])
                r = self.srv.ask("example.test.", "NS", t)
                self.assertEqual(sorted(names(r.additional)), [("ns1.example.test.", A), ("ns2.example.test.", AAAA)])

    def test_outside_every_zone_refused(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("www.example.org.", "A", t)
                self.assertEqual(r.rcode(), dns.rcode.REFUSED)
                self.assertFalse(r.flags & dns.flags.AA)
                self.assertEqual(len(r.answer) + len(r.authority), 0)

    def test_question_copied_byte_for_byte_and_names_compressed(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                q = dns.message.make_query("WwW.ExAmPlE.TeSt.", "A", use_edns=False)
                wire = q.to_wire()
                raw = self.srv.raw(wire, t)
                qlen = len(wire) - 12
                self.assertEqual(raw[12:12 + qlen], wire[12:12 + qlen])  # 0x20 mixed case kept
                self.assertEqual(raw[12 + qlen:12 + qlen + 2], b"\xc0\x0c")  # owner points at the question
                r = dns.message.from_wire(raw)
                self.assertEqual(r.answer[0][0].address, "192.0.2.10")

    def test_unknown_type_rfc3597(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                r = self.srv.ask("unknown.example.test.", 65534, t)
                self.assertEqual(r.answer[0][0].to_text(), r"\# 4 0a000001")

    def test_soa_and_compression_of_rdata_names(self):
        for t in TRANSPORTS:
            with self.subTest(transport=t):
                q = dns.message.make_query("example.test.", "SOA", use_edns=False)
                raw = self.srv.raw(q.to_wire(), t)
                r = dns.message.from_wire(raw)
                soa = r.answer[0][0]
                self.assertEqual(soa.mname.to_text(), "ns1.example.test.")
                self.assertEqual(soa.serial, 2026112601)
                # Without compression this answer would carry example.test. three more times.
                uncompressed = len(q.to_wire()) + 2 + 10 + len(b"\x03ns1\x07example\x04test\x00") + \
                    len(b"\x0ahostmaster\x07example\x04test\x00") + 20 + 14
                self.assertLess(len(raw), uncompressed - 20)


if __name__ == "__main__":
    unittest.main()
