#pragma once
// Helpers to build queries and pick responses apart in unit tests.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/name.h"
#include "core/wire.h"

namespace geodns::test {

struct QuerySpec {
  std::string name = "www.example.test";
  std::uint16_t qtype = 1;
  std::uint16_t qclass = 1;
  std::uint16_t id = 0x4242;
  std::uint16_t flags = 0;
  bool edns = false;
  std::uint16_t udpSize = 1232;
  std::uint8_t version = 0;
  bool dnssecOk = false;
};

inline std::vector<std::uint8_t> makeQuery(const QuerySpec& s) {
  std::vector<std::uint8_t> buf(600);
  Writer w(buf.data(), buf.size());
  w.u16(s.id);
  w.u16(s.flags);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(s.edns ? 1 : 0);
  auto n = name::fromText(s.name);
  w.bytes(name::asSpan(*n));
  w.u16(s.qtype);
  w.u16(s.qclass);
  if (s.edns) {
    w.u8(0);
    w.u16(41);
    w.u16(s.udpSize);
    w.u32((std::uint32_t{s.version} << 16) | (s.dnssecOk ? 0x8000u : 0u));
    w.u16(0);
  }
  buf.resize(w.size());
  return buf;
}

struct ParsedRR {
  std::string owner;  // presentation form
  std::uint16_t type = 0;
  std::uint16_t rrclass = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

struct ParsedResponse {
  bool ok = false;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t rcode() const { return flags & 0xF; }
  bool aa() const { return flags & 0x0400; }
  bool tc() const { return flags & 0x0200; }
  std::uint16_t qd = 0;
  std::vector<ParsedRR> sections[3];
  bool hasOpt = false;
  std::uint32_t optTtl = 0;
  std::uint16_t optPayload = 0;
};

inline ParsedResponse parseResponse(std::span<const std::uint8_t> msg) {
  ParsedResponse p;
  Reader r(msg);
  p.id = r.u16();
  p.flags = r.u16();
  p.qd = r.u16();
  std::uint16_t counts[3] = {r.u16(), r.u16(), r.u16()};
  name::NameBuf nb;
  for (int i = 0; i < p.qd; ++i) {
    if (!name::read(r, nb, false)) return p;
    r.skip(4);
  }
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < counts[s]; ++i) {
      ParsedRR rr;
      if (!name::read(r, nb, true)) return p;
      rr.owner = name::toText(nb.span());
      rr.type = r.u16();
      rr.rrclass = r.u16();
      rr.ttl = r.u32();
      auto len = r.u16();
      auto d = r.bytes(len);
      rr.rdata.assign(d.begin(), d.end());
      if (rr.type == 41) {
        p.hasOpt = true;
        p.optTtl = rr.ttl;
        p.optPayload = rr.rrclass;
        continue;
      }
      p.sections[s].push_back(std::move(rr));
    }
  }
  p.ok = r.ok();
  return p;
}

}  // namespace geodns::test
