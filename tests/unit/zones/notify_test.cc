// NOTIFY (RFC 1996) messages, read back with ldns; serial arithmetic and the
// serial policy of a reload.
#include <doctest/doctest.h>

// clang-format off
#include <stdbool.h>  // must precede ldns (FIELD-NOTES.md)
#include <ldns/ldns.h>
// clang-format on

#include <cstdlib>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "zones/notify.h"
#include "zones/serial.h"
#include "zones/zone.h"

using namespace geodns;
using geodns::test::TempDir;
using Bytes = std::vector<std::uint8_t>;

namespace {

std::unique_ptr<zones::Zone> zone() {
  TempDir d;
  ErrorList errors;
  auto f = d.write("n.zone",
                   "$ORIGIN notify.test.\n$TTL 300\n"
                   "@ 3600 SOA ns1.notify.test. hostmaster.notify.test. 2024050501 7200 900 "
                   "1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n");
  auto z =
      zones::Zone::compile("notify.test", zones::parseZoneFile(f, "notify.test", errors), errors);
  REQUIRE_MESSAGE(errors.empty(), errors.str());
  return z;
}

Bytes build(ldns_pkt* pkt) {
  std::uint8_t* wire = nullptr;
  std::size_t len = 0;
  REQUIRE(ldns_pkt2wire(&wire, pkt, &len) == LDNS_STATUS_OK);
  Bytes out(wire, wire + len);
  std::free(wire);
  ldns_pkt_free(pkt);
  return out;
}

// A NOTIFY answer as a secondary would send it, made by ldns.
Bytes reply(std::uint16_t id, const char* qname, ldns_rr_type qtype, bool qr, bool aa,
            ldns_pkt_opcode opcode, ldns_pkt_rcode rcode, bool question = true) {
  ldns_pkt* p = ldns_pkt_new();
  ldns_pkt_set_id(p, id);
  ldns_pkt_set_qr(p, qr);
  ldns_pkt_set_aa(p, aa);
  ldns_pkt_set_opcode(p, opcode);
  ldns_pkt_set_rcode(p, rcode);
  if (question) {
    ldns_rr* q = ldns_rr_new();
    ldns_rr_set_owner(q, ldns_dname_new_frm_str(qname));
    ldns_rr_set_type(q, qtype);
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    ldns_rr_set_question(q, true);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
  }
  return build(p);
}

}  // namespace

TEST_CASE("NOTIFY request: opcode, AA, the question and the SOA hint, as ldns reads them") {
  auto z = zone();
  std::uint8_t buf[512];
  Writer w(buf, sizeof buf);
  REQUIRE(zones::writeNotify(w, 0x5151, *z));
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, buf, w.size()) == LDNS_STATUS_OK);
  CHECK(ldns_pkt_id(pkt) == 0x5151);
  CHECK(ldns_pkt_get_opcode(pkt) == LDNS_PACKET_NOTIFY);
  CHECK_FALSE(ldns_pkt_qr(pkt));
  CHECK(ldns_pkt_aa(pkt));
  CHECK_FALSE(ldns_pkt_rd(pkt));
  REQUIRE(ldns_pkt_qdcount(pkt) == 1);
  ldns_rr* q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
  char* qs = ldns_rdf2str(ldns_rr_owner(q));
  CHECK(std::string(qs) == "notify.test.");
  std::free(qs);
  CHECK(ldns_rr_get_type(q) == LDNS_RR_TYPE_SOA);
  CHECK(ldns_rr_get_class(q) == LDNS_RR_CLASS_IN);
  REQUIRE(ldns_pkt_ancount(pkt) == 1);
  char* soa = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(pkt), 0));
  CHECK(std::string(soa) ==
        "notify.test.\t3600\tIN\tSOA\tns1.notify.test. hostmaster.notify.test. 2024050501 7200 "
        "900 1209600 300\n");
  std::free(soa);
  ldns_pkt_free(pkt);
  // Compressed: the SOA owner points at the question name.
  CHECK(w.size() < 12 + 17 + 2 * 13 + 10 + 20 + 10);

  // readNotify takes what we write.
  zones::NotifyRequest in;
  REQUIRE(zones::readNotify({buf, w.size()}, in));
  CHECK(in.id == 0x5151);
  CHECK(name::toText(in.zone.span()) == "notify.test.");
  CHECK(in.serial == 2024050501u);

  // Too small a buffer fails cleanly.
  Writer tiny(buf, 40);
  CHECK_FALSE(zones::writeNotify(tiny, 1, *z));
}

TEST_CASE("NOTIFY answers: which acknowledge our request") {
  using M = zones::NotifyReply::Match;
  const std::string zoneName = *name::fromText("notify.test");
  struct Case {
    const char* name;
    Bytes msg;
    M match;
    bool aa;
  };
  const auto N = LDNS_PACKET_NOTIFY;
  const auto OK = LDNS_RCODE_NOERROR;
  const Case cases[] = {
      {"the answer", reply(7, "notify.test.", LDNS_RR_TYPE_SOA, true, true, N, OK), M::Ack, true},
      {"the name in another case", reply(7, "NOTIFY.Test.", LDNS_RR_TYPE_SOA, true, true, N, OK),
       M::Ack, true},
      {"without AA: still the secondary's ack",
       reply(7, "notify.test.", LDNS_RR_TYPE_SOA, true, false, N, OK), M::Ack, false},
      {"REFUSED", reply(7, "notify.test.", LDNS_RR_TYPE_SOA, true, false, N, LDNS_RCODE_REFUSED),
       M::Error, false},
      {"NOTAUTH", reply(7, "notify.test.", LDNS_RR_TYPE_SOA, true, false, N, LDNS_RCODE_NOTAUTH),
       M::Error, false},
      {"another ID", reply(8, "notify.test.", LDNS_RR_TYPE_SOA, true, true, N, OK), M::NotOurs,
       false},
      {"QR clear: a request", reply(7, "notify.test.", LDNS_RR_TYPE_SOA, false, true, N, OK),
       M::NotOurs, false},
      {"opcode QUERY",
       reply(7, "notify.test.", LDNS_RR_TYPE_SOA, true, true, LDNS_PACKET_QUERY, OK), M::NotOurs,
       false},
      {"another zone", reply(7, "other.test.", LDNS_RR_TYPE_SOA, true, true, N, OK), M::NotOurs,
       false},
      {"a subdomain", reply(7, "a.notify.test.", LDNS_RR_TYPE_SOA, true, true, N, OK), M::NotOurs,
       false},
      {"QTYPE A", reply(7, "notify.test.", LDNS_RR_TYPE_A, true, true, N, OK), M::NotOurs, false},
      {"no question", reply(7, "notify.test.", LDNS_RR_TYPE_SOA, true, true, N, OK, false),
       M::NotOurs, false},
      {"a header only", Bytes{0, 7, 0xA4, 0, 0, 1, 0, 0, 0, 0, 0, 0}, M::NotOurs, false},
      {"five bytes", Bytes{0, 7, 0xA4, 0, 0}, M::NotOurs, false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    const auto r = zones::matchNotifyReply(c.msg, 7, name::asSpan(zoneName));
    CHECK(r.match == c.match);
    CHECK(r.aa == c.aa);
  }
}

TEST_CASE("readNotify: what a secondary accepts") {
  auto withSoa = [](const char* owner, const char* qtypeSoa) {
    ldns_pkt* p = ldns_pkt_new();
    ldns_pkt_set_id(p, 99);
    ldns_pkt_set_opcode(p, LDNS_PACKET_NOTIFY);
    ldns_pkt_set_aa(p, true);
    ldns_rr* q = ldns_rr_new();
    ldns_rr_set_owner(q, ldns_dname_new_frm_str("Notify.Test."));
    ldns_rr_set_type(q, std::string(qtypeSoa) == "SOA" ? LDNS_RR_TYPE_SOA : LDNS_RR_TYPE_A);
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    ldns_rr_set_question(q, true);
    ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
    if (owner) {
      ldns_rr* rr = nullptr;
      std::string text = std::string(owner) + " 60 IN SOA a.test. b.test. 77 1 2 3 4";
      REQUIRE(ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
      ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    }
    return build(p);
  };
  struct Case {
    const char* name;
    Bytes msg;
    bool ok;
    std::optional<std::uint32_t> serial;
  };
  Bytes asResponse = withSoa(nullptr, "SOA");
  asResponse[2] |= 0x80;
  Bytes cut = withSoa("notify.test.", "SOA");
  cut.resize(cut.size() - 2);
  const Case cases[] = {
      {"no hint", withSoa(nullptr, "SOA"), true, std::nullopt},
      {"a serial hint", withSoa("notify.test.", "SOA"), true, 77u},
      {"an SOA for another name is no hint", withSoa("other.test.", "SOA"), true, std::nullopt},
      {"QTYPE A", withSoa(nullptr, "A"), false, std::nullopt},
      {"a response", asResponse, false, std::nullopt},
      {"cut short", cut, false, std::nullopt},
      {"a QUERY",
       reply(1, "notify.test.", LDNS_RR_TYPE_SOA, false, false, LDNS_PACKET_QUERY,
             LDNS_RCODE_NOERROR),
       false, std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    zones::NotifyRequest r;
    CHECK(zones::readNotify(c.msg, r) == c.ok);
    if (!c.ok) continue;
    CHECK(r.id == 99);
    CHECK(name::toText(r.zone.span()) == "notify.test.");
    CHECK(r.serial == c.serial);
  }
}

TEST_CASE("compareSerial: RFC 1982 arithmetic") {
  using O = zones::SerialOrder;
  struct Case {
    std::uint32_t a, b;
    O order;
  };
  const Case cases[] = {
      {1, 1, O::Equal},
      {1, 2, O::Less},
      {2, 1, O::Greater},
      {0xFFFFFFFF, 0, O::Less},  // wraps
      {0, 0xFFFFFFFF, O::Greater},
      {0, 0x7FFFFFFF, O::Less},  // the furthest ahead still comparable
      {0, 0x80000000, O::Undefined},
      {0x80000000, 0, O::Undefined},
      {0, 0x80000001, O::Greater},  // more than half way round: behind
      {2024010101, 2024010102, O::Less},
  };
  for (const auto& c : cases) {
    CAPTURE(c.a);
    CAPTURE(c.b);
    CHECK(zones::compareSerial(c.a, c.b) == c.order);
  }
}

TEST_CASE("chooseSerial: the serial a reload serves under each policy") {
  using P = zones::SerialPolicy;
  constexpr std::int64_t now = 1700000000;
  struct Case {
    const char* name;
    P policy;
    std::optional<std::uint32_t> served;
    std::uint32_t file;
    bool changed;
    std::uint32_t expect;
    bool missed;
  };
  const Case cases[] = {
      {"keep: the file's", P::Keep, 10u, 11, true, 11, false},
      {"keep: changed data, same serial: missed", P::Keep, 10u, 10, true, 10, true},
      {"keep: changed data, older serial: missed", P::Keep, 10u, 9, true, 9, true},
      {"keep: nothing changed", P::Keep, 10u, 10, false, 10, false},
      {"keep: first load", P::Keep, std::nullopt, 5, true, 5, false},
      {"increment: changed, same file serial", P::Increment, 10u, 10, true, 11, false},
      {"increment: the file is further ahead", P::Increment, 10u, 20, true, 20, false},
      {"increment: nothing changed", P::Increment, 10u, 10, false, 10, false},
      {"increment: nothing changed, the operator moved it on", P::Increment, 10u, 15, false, 15,
       false},
      {"increment: first load", P::Increment, std::nullopt, 7, true, 7, false},
      {"increment: wraps past 2^32", P::Increment, 0xFFFFFFFFu, 0xFFFFFFFF, true, 0, false},
      {"unixtime: changed", P::UnixTime, 10u, 10, true, 1700000000, false},
      {"unixtime: twice in the same second", P::UnixTime, 1700000000u, 10, true, 1700000001, false},
      {"unixtime: served ahead of the clock", P::UnixTime, 1700000100u, 10, true, 1700000101,
       false},
      {"unixtime: a date serial ahead of it", P::UnixTime, 10u, 2024010101, true, 2024010101,
       false},
      {"unixtime: first load", P::UnixTime, std::nullopt, 10, true, 1700000000, false},
      {"unixtime: nothing changed", P::UnixTime, 1600000000u, 10, false, 1600000000, false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    const auto got = zones::chooseSerial(c.policy, c.served, c.file, c.changed, now);
    CHECK(got.serial == c.expect);
    CHECK(got.secondariesMissIt == c.missed);
  }
  CHECK(zones::serialPolicyFromText("keep") == P::Keep);
  CHECK(zones::serialPolicyFromText("increment") == P::Increment);
  CHECK(zones::serialPolicyFromText("unixtime") == P::UnixTime);
  CHECK_FALSE(zones::serialPolicyFromText("dateserial"));
}
