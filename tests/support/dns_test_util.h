#pragma once
// Helpers to build queries and pick responses apart in unit tests.
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/wire/name.h"
#include "core/wire/wire.h"

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
  std::vector<std::uint8_t> options = {};  // raw EDNS options (implies edns)
};

// An ECS option (RFC 7871) for `address`/`source`; address bytes are cut to
// the source prefix and host bits cleared unless `raw` gives them as is.
inline std::vector<std::uint8_t> ecsOption(const char* address, std::uint8_t source,
                                           std::uint16_t family = 0) {
  IpAddress a = *IpAddress::parse(address);
  if (family == 0) family = a.family == 4 ? 1 : 2;
  a = a.masked(source);
  std::size_t len = (source + 7u) / 8u;
  // Built by index: GCC 12 -O2/-O3 warns falsely (-Warray-bounds) on vector::insert here.
  std::vector<std::uint8_t> o(8 + len);
  o[3] = static_cast<std::uint8_t>(4 + len);
  o[1] = 8;
  o[5] = static_cast<std::uint8_t>(family);
  o[6] = source;
  for (std::size_t i = 0; i < len; ++i) o[8 + i] = a.bytes[i];
  return o;
}

// The wire form of a presentation name with its case kept (name::fromText
// lowercases, which would make every case-blindness test vacuous). Plain
// labels only: no escapes.
inline std::vector<std::uint8_t> wireNameKeepingCase(const std::string& text) {
  std::vector<std::uint8_t> out;
  if (text.empty() || text == ".") return {0};
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string::npos) dot = text.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(start),
               text.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

// A query for `s.name` exactly as spelled (case kept).
inline std::vector<std::uint8_t> makeQuery(const QuerySpec& s) {
  std::vector<std::uint8_t> buf(600 + s.options.size());
  const bool edns = s.edns || !s.options.empty();
  Writer w(buf.data(), buf.size());
  w.u16(s.id);
  w.u16(s.flags);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(edns ? 1 : 0);
  w.bytes(wireNameKeepingCase(s.name));
  w.u16(s.qtype);
  w.u16(s.qclass);
  if (edns) {
    w.u8(0);
    w.u16(41);
    w.u16(s.udpSize);
    w.u32((std::uint32_t{s.version} << 16) | (s.dnssecOk ? 0x8000u : 0u));
    w.u16(static_cast<std::uint16_t>(s.options.size()));
    w.bytes(s.options);
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
  std::vector<std::uint8_t> optRdata;
  // The ECS option of the response: -1 when absent, else its SCOPE PREFIX-LENGTH.
  int ecsScope() const {
    Reader r(optRdata);
    while (r.ok() && r.remaining() >= 4) {
      std::uint16_t code = r.u16(), len = r.u16();
      auto d = r.bytes(len);
      if (code == 8 && d.size() >= 4) return d[3];
    }
    return -1;
  }
  std::vector<std::uint8_t> ecsOption() const {
    Reader r(optRdata);
    while (r.ok() && r.remaining() >= 4) {
      std::uint16_t code = r.u16(), len = r.u16();
      auto d = r.bytes(len);
      if (code == 8) return {d.begin(), d.end()};
    }
    return {};
  }
};

// The presentation form of an A, AAAA or CNAME record's RDATA (test answers).
inline std::string rdataText(const ParsedRR& rr) {
  if (rr.type == 5) return name::toText(rr.rdata);
  IpAddress a;
  a.family = rr.type == 28 ? 6 : 4;
  if (rr.rdata.size() != a.size()) return "?";
  std::memcpy(a.bytes, rr.rdata.data(), a.size());
  return a.str();
}

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
        p.optRdata = rr.rdata;
        continue;
      }
      p.sections[s].push_back(std::move(rr));
    }
  }
  p.ok = r.ok();
  return p;
}

}  // namespace geodns::test
