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
  if (q.ecs) return false;
  Reader r(data);
  const std::uint16_t family = r.u16();
  const std::uint8_t source = r.u8();
  r.u8();  // SCOPE PREFIX-LENGTH: must be 0 in queries; ignored
  if (!r.ok()) return false;
  const unsigned maxBits = family == kEcsFamilyIpv4 ? 32 : family == kEcsFamilyIpv6 ? 128 : 0;
  if (maxBits == 0 || source > maxBits) return false;
  const std::size_t len = (source + 7u) / 8u;
  if (r.remaining() != len) return false;
  auto addr = r.bytes(len);
  if (len > 0 && (source % 8) != 0 &&
      (addr[len - 1] & static_cast<std::uint8_t>(0xFFu >> (source % 8))) != 0)
    return false;  // bits set beyond the source prefix
  q.ecs = true;
  q.ecsFamily = family;
  q.ecsSource = source;
  std::memset(q.ecsAddress, 0, sizeof q.ecsAddress);
  if (len) std::memcpy(q.ecsAddress, addr.data(), len);
  return true;
}

}  // namespace

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
