#include "zones/notify.h"

#include <cstring>

#include "core/wire/compress.h"
#include "core/wire/dns.h"

namespace geodns::zones {

namespace {

constexpr std::uint16_t kOpcodeNotify =
    static_cast<std::uint16_t>(static_cast<std::uint16_t>(dns::Opcode::Notify) << 11);

std::size_t nameLength(const std::uint8_t* p, std::size_t max) noexcept {
  std::size_t i = 0;
  while (i < max) {
    if (p[i] == 0) return i + 1;
    if (p[i] > dns::kMaxLabel) return 0;
    i += std::size_t{1} + p[i];
  }
  return 0;
}

bool sameName(const name::NameBuf& a, name::Span lowerB) noexcept {
  if (a.len != lowerB.size()) return false;
  for (std::size_t i = 0; i < a.len; ++i) {
    std::uint8_t c = a.data[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<std::uint8_t>(c | 0x20);
    if (c != lowerB[i]) return false;
  }
  return true;
}

}  // namespace

bool writeNotify(Writer& w, std::uint16_t id, const Zone& zone) noexcept {
  const name::Span origin = name::asSpan(zone.origin());
  const RRset& soa = zone.soa();
  Compressor comp;
  w.u16(id);
  w.u16(static_cast<std::uint16_t>(kOpcodeNotify | dns::kFlagAA));
  w.u16(1);  // QDCOUNT
  w.u16(1);  // ANCOUNT: the SOA
  w.u16(0);
  w.u16(0);
  comp.write(w, origin);
  w.u16(dns::toU16(dns::Type::SOA));
  w.u16(dns::kClassIN);
  // The SOA: owner, then MNAME and RNAME compressed, then the five numbers.
  comp.write(w, origin);
  w.u16(dns::toU16(dns::Type::SOA));
  w.u16(dns::kClassIN);
  w.u32(soa.ttl);
  const std::size_t rdlenAt = w.size();
  w.u16(0);
  const auto* rd = reinterpret_cast<const std::uint8_t*>(soa.bytes.data()) + soa.rrs[0].offset;
  const std::size_t len = soa.rrs[0].length;
  const std::size_t mname = nameLength(rd, len);
  const std::size_t rname = mname ? nameLength(rd + mname, len - mname) : 0;
  if (rname == 0 || mname + rname + 20 != len) {  // a compiled zone's SOA is never like this
    w.bytes({rd, len});
  } else {
    comp.write(w, {rd, mname});
    comp.write(w, {rd + mname, rname});
    w.bytes({rd + mname + rname, 20});
  }
  if (!w.ok()) return false;
  w.patch16(rdlenAt, static_cast<std::uint16_t>(w.size() - rdlenAt - 2));
  return true;
}

NotifyReply matchNotifyReply(std::span<const std::uint8_t> msg, std::uint16_t id,
                             name::Span zone) noexcept {
  NotifyReply out;
  Reader r(msg);
  const std::uint16_t gotId = r.u16();
  const std::uint16_t flags = r.u16();
  const std::uint16_t qd = r.u16();
  r.skip(6);
  if (!r.ok() || gotId != id || !(flags & dns::kFlagQR) ||
      (flags & dns::kOpcodeMask) != kOpcodeNotify || qd != 1)
    return out;
  name::NameBuf qname;
  if (!name::read(r, qname, false)) return out;
  const std::uint16_t qtype = r.u16(), qclass = r.u16();
  if (!r.ok() || !sameName(qname, zone) || qtype != dns::toU16(dns::Type::SOA) ||
      qclass != dns::kClassIN)
    return out;
  out.rcode = flags & dns::kRcodeMask;
  out.aa = (flags & dns::kFlagAA) != 0;
  out.match = out.rcode == dns::toU16(dns::Rcode::NoError) ? NotifyReply::Match::Ack
                                                           : NotifyReply::Match::Error;
  return out;
}

bool readNotify(std::span<const std::uint8_t> msg, NotifyRequest& out) noexcept {
  Reader r(msg);
  out.id = r.u16();
  const std::uint16_t flags = r.u16();
  const std::uint16_t qd = r.u16(), an = r.u16();
  r.skip(4);
  if (!r.ok() || (flags & dns::kFlagQR) || (flags & dns::kOpcodeMask) != kOpcodeNotify || qd != 1)
    return false;
  if (!name::read(r, out.zone, true)) return false;
  const std::uint16_t qtype = r.u16();
  r.u16();  // class: checked by the caller against its zone
  if (!r.ok() || qtype != dns::toU16(dns::Type::SOA)) return false;
  out.serial.reset();
  for (std::uint16_t i = 0; i < an; ++i) {
    name::NameBuf owner;
    if (!name::read(r, owner, true)) return false;
    const std::uint16_t type = r.u16();
    r.skip(6);
    const std::uint16_t rdlen = r.u16();
    const std::size_t start = r.pos();
    r.skip(rdlen);
    if (!r.ok()) return false;
    if (type != dns::toU16(dns::Type::SOA) || out.serial || owner.len != out.zone.len ||
        std::memcmp(owner.data, out.zone.data, owner.len) != 0)
      continue;
    Reader s(msg, start);
    name::NameBuf scratch;
    if (!name::read(s, scratch, false) || !name::read(s, scratch, false)) return false;
    const std::uint32_t serial = s.u32();
    if (!s.ok() || s.pos() > start + rdlen) return false;
    out.serial = serial;
  }
  return true;
}

}  // namespace geodns::zones
