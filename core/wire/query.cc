#include "core/wire/query.h"

#include <algorithm>
#include <cstring>

#include "core/wire/dns.h"
#include "core/wire/tsig.h"
#include "core/wire/wire.h"

namespace geodns::wire {

namespace {

using dns::toU16;
using dns::Type;

// Skips one resource record (name, fixed part, RDATA); false when malformed.
bool skipRR(Reader& r, std::uint16_t* typeOut, name::NameBuf& scratch) noexcept {
  if (!name::read(r, scratch, false)) return false;
  std::uint16_t type = r.u16();
  r.skip(6);  // class, ttl
  std::uint16_t rdlen = r.u16();
  r.skip(rdlen);
  if (typeOut) *typeOut = type;
  return r.ok();
}

// RFC 7871 s6 and s7.1.1: a malformed option, or a second one, is FORMERR.
bool parseEcs(std::span<const std::uint8_t> data, ParsedQuery& q) noexcept {
  if (q.ecs || data.size() < 4) return false;
  const std::uint8_t* p = data.data();
  const std::uint16_t family = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  const std::uint8_t source = p[2];  // p[3], SCOPE PREFIX-LENGTH: must be 0 in queries; ignored
  const unsigned maxBits = family == kEcsFamilyIpv4 ? 32 : family == kEcsFamilyIpv6 ? 128 : 0;
  if (maxBits == 0 || source > maxBits) return false;
  const std::size_t len = (source + 7u) / 8u;
  if (data.size() - 4 != len) return false;
  const std::uint8_t* addr = p + 4;
  if (len > 0 && (source % 8) != 0 &&
      (addr[len - 1] & static_cast<std::uint8_t>(0xFFu >> (source % 8))) != 0)
    return false;  // bits set beyond the source prefix
  q.ecs = true;
  q.ecsFamily = family;
  q.ecsSource = source;
  std::memset(q.ecsAddress, 0, sizeof q.ecsAddress);
  if (len) std::memcpy(q.ecsAddress, addr, len);
  return true;
}

}  // namespace

void toLowerWide(const std::uint8_t* src, std::uint8_t* dst, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, src + i, 8);
    // Per byte: bit 7 set where 'A' <= b <= 'Z' (and b < 0x80), then 0x20 there.
    const std::uint64_t low7 = w & 0x7F7F7F7F7F7F7F7FULL;
    const std::uint64_t geA = low7 + 0x3F3F3F3F3F3F3F3FULL;  // b >= 'A'
    const std::uint64_t gtZ = low7 + 0x2525252525252525ULL;  // b > 'Z'
    const std::uint64_t upper = (geA ^ gtZ) & ~w & 0x8080808080808080ULL;
    w |= upper >> 2;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) {
    const std::uint8_t b = src[i];
    dst[i] = b >= 'A' && b <= 'Z' ? static_cast<std::uint8_t>(b | 0x20) : b;
  }
}

bool parseSimpleQuery(std::span<const std::uint8_t> msg, ParsedQuery& q) noexcept {
  const std::uint8_t* p = msg.data();
  const std::size_t n = msg.size();
  if (n < dns::kHeaderSize + 5) return false;
  const std::uint16_t flags = static_cast<std::uint16_t>((p[2] << 8) | p[3]);
  if ((flags & (dns::kFlagQR | dns::kOpcodeMask)) != 0) return false;
  // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
  if (p[4] != 0 || p[5] != 1 || (p[6] | p[7] | p[8] | p[9] | p[10]) != 0 || p[11] > 1) return false;
  std::size_t i = dns::kHeaderSize;
  for (;;) {  // labels; a pointer or an extended label type is not the common shape
    if (i >= n) return false;
    const std::uint8_t c = p[i];
    if (c == 0) break;
    if (c > 63) return false;
    i += std::size_t{1} + c;
  }
  const std::size_t len = i + 1 - dns::kHeaderSize;
  if (len > dns::kMaxNameWire || i + 5 > n) return false;
  q.ecs = false;
  q.edns = false;
  q.udpSize = 0;
  q.ednsVersion = 0;
  q.dnssecOk = false;
  std::size_t pos = i + 5;
  if (p[11] == 1) {  // one OPT: root owner, TYPE 41, version 0
    if (pos + 11 > n || p[pos] != 0 || p[pos + 1] != 0 || p[pos + 2] != 41) return false;
    const std::uint16_t size = static_cast<std::uint16_t>((p[pos + 3] << 8) | p[pos + 4]);
    if (p[pos + 6] != 0) return false;  // EDNS version: BADVERS is the general path's
    const bool dnssecOk = (p[pos + 7] & 0x80) != 0;
    const std::size_t rdlen = static_cast<std::size_t>((p[pos + 9] << 8) | p[pos + 10]);
    std::size_t o = pos + 11;
    const std::size_t end = o + rdlen;
    if (end > n) return false;
    while (o < end) {  // options: code, length, data
      if (o + 4 > end) return false;
      const std::uint16_t code = static_cast<std::uint16_t>((p[o] << 8) | p[o + 1]);
      const std::size_t olen = static_cast<std::size_t>((p[o + 2] << 8) | p[o + 3]);
      if (o + 4 + olen > end) return false;
      if (code == kOptionEcs && !parseEcs({p + o + 4, olen}, q)) return false;
      o += 4 + olen;
    }
    q.edns = true;
    q.udpSize = std::max(size, dns::kMinUdpPayload);
    q.dnssecOk = dnssecOk;
  }
  if (!q.ecs) std::memset(q.ecsAddress, 0, sizeof q.ecsAddress);  // as reset() leaves it
  q.id = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
  q.flags = flags;
  q.opcode = 0;
  q.haveQuestion = true;
  std::memcpy(q.qnameRaw.data, p + dns::kHeaderSize, len);
  q.qnameRaw.len = len;
  toLowerWide(q.qnameRaw.data, q.qname.data, len);
  q.qname.len = len;
  q.qtype = static_cast<std::uint16_t>((p[i + 1] << 8) | p[i + 2]);
  q.qclass = static_cast<std::uint16_t>((p[i + 3] << 8) | p[i + 4]);
  q.tsigAt = 0;
  return true;
}

std::size_t udpResponseLimit(const ParsedQuery& q, std::uint16_t maxPayload) noexcept {
  if (!q.edns) return dns::kMinUdpPayload;
  return std::max<std::size_t>(dns::kMinUdpPayload, std::min(q.udpSize, maxPayload));
}

ParseVerdict parseQuery(std::span<const std::uint8_t> msg, ParsedQuery& q) noexcept {
  if (msg.size() < dns::kHeaderSize) return ParseVerdict::Drop;
  Reader r(msg);
  q.id = r.u16();
  q.flags = r.u16();
  if (q.flags & dns::kFlagQR) return ParseVerdict::Drop;  // never answer a response
  const std::uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  q.opcode = static_cast<std::uint8_t>((q.flags & dns::kOpcodeMask) >> 11);
  const bool knownOpcode = q.opcode == static_cast<std::uint8_t>(dns::Opcode::Query) ||
                           q.opcode == static_cast<std::uint8_t>(dns::Opcode::Notify) ||
                           q.opcode == static_cast<std::uint8_t>(dns::Opcode::Update);
  // An opcode we do not implement may give the sections another layout, so a
  // message we cannot read is NOTIMP for it, not FORMERR.
  const ParseVerdict malformed = knownOpcode ? ParseVerdict::FormErr : ParseVerdict::NotImp;

  // The question section. Any question we cannot read ends the parse: the
  // records behind it (and the OPT) cannot be found, so the reply is the
  // header alone.
  name::NameBuf scratch;
  for (std::uint16_t i = 0; i < qd; ++i) {
    if (!name::read(r, i == 0 ? q.qnameRaw : scratch, false)) return malformed;
    const std::uint16_t qtype = r.u16(), qclass = r.u16();
    if (!r.ok()) return malformed;
    if (i == 0) {
      q.qtype = qtype;
      q.qclass = qclass;
    }
  }
  if (qd == 1) {
    q.haveQuestion = true;
    std::memcpy(q.qname.data, q.qnameRaw.data, q.qnameRaw.len);
    q.qname.len = q.qnameRaw.len;
    name::toLower(q.qname.data, q.qname.len);
  }

  // Answer and authority: skipped; a TSIG there is misplaced (RFC 8945 5.1),
  // and so is an OPT (pseudo-RR of the additional section; NSD and Knot).
  std::uint16_t type = 0;
  for (std::uint32_t i = 0; i < std::uint32_t{an} + ns; ++i)
    if (!skipRR(r, &type, scratch) || type == toU16(Type::TSIG) || type == toU16(Type::OPT))
      return malformed;

  // Additional: at most one OPT; a TSIG only as the last record. A message
  // that breaks off, or an OPT that is itself malformed, gets no OPT back
  // (the OPT cannot be trusted); a well-formed OPT with a bad ECS option does
  // (RFC 7871 6 makes it FORMERR; the OPT still tells our size and DO).
  bool ecsBad = false, seenOpt = false;
  for (std::uint16_t i = 0; i < ar; ++i) {
    const std::size_t start = r.pos();
    if (!skipRR(r, &type, scratch)) return malformed;
    if (type == toU16(Type::TSIG)) {
      tsig::Record rec;
      Reader t(msg, start);
      if (i + 1 != ar || !tsig::read(t, rec)) return malformed;
      q.tsigAt = static_cast<std::uint16_t>(start);
      continue;
    }
    if (type != toU16(Type::OPT)) continue;
    if (seenOpt) return malformed;  // RFC 6891 6.1.1: more than one OPT; no OPT back, as Knot
    seenOpt = true;
    Reader o(msg, start);
    if (o.u8() != 0) return malformed;  // OPT owner must be the root
    o.skip(2);
    q.udpSize = std::max(o.u16(), dns::kMinUdpPayload);
    const std::uint32_t ttl = o.u32();
    q.ednsVersion = static_cast<std::uint8_t>(ttl >> 16);
    q.dnssecOk = (ttl & dns::kEdnsDO) != 0;
    std::uint16_t rdlen = o.u16();
    Reader opt(o.bytes(rdlen));
    while (opt.ok() && opt.remaining() > 0) {  // options: code, length, data
      const std::uint16_t code = opt.u16();
      const std::uint16_t len = opt.u16();
      auto data = opt.bytes(len);
      if (!opt.ok()) break;
      if (code == kOptionEcs && !parseEcs(data, q)) ecsBad = true;
    }
    if (!o.ok() || !opt.ok()) return malformed;
  }
  q.edns = seenOpt;
  // Options belong to their EDNS version: a version we do not speak is
  // BADVERS before its options are judged (NSD; Knot without its ECS module).
  if (q.edns && q.ednsVersion > 0) {
    q.ecs = false;
    return ParseVerdict::BadVers;
  }
  if (!knownOpcode) return ParseVerdict::NotImp;
  if (ecsBad) {
    q.ecs = false;  // nothing to echo: the FORMERR names no client subnet
    return ParseVerdict::FormErr;
  }
  if (qd != 1) return ParseVerdict::FormErr;
  return ParseVerdict::Ok;
}

}  // namespace geodns::wire
