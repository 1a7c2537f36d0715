#include "core/tsig.h"

#include "core/dns.h"

namespace geodns::tsig {

bool read(Reader& r, Record& out) noexcept {
  if (!name::read(r, out.key, false)) return false;
  const std::uint16_t type = r.u16();
  r.u16();  // class
  r.u32();  // TTL
  const std::uint16_t rdlen = r.u16();
  if (!r.ok() || type != dns::toU16(dns::Type::TSIG) || r.remaining() < rdlen) {
    r.fail();
    return false;
  }
  const std::size_t end = r.pos() + rdlen;
  // The algorithm name is read from the whole message so that a (non-standard)
  // compression pointer resolves; it must still end inside the RDATA.
  if (!name::read(r, out.algorithm, true)) return false;
  const std::uint64_t hi = r.u16();
  out.timeSigned = (hi << 32) | r.u32();
  out.fudge = r.u16();
  const std::uint16_t macSize = r.u16();
  out.mac = r.bytes(macSize);
  out.originalId = r.u16();
  out.error = r.u16();
  const std::uint16_t otherLen = r.u16();
  out.other = r.bytes(otherLen);
  if (!r.ok() || r.pos() != end) {
    r.fail();
    return false;
  }
  return true;
}

std::size_t unsignedSize(const Record& req) noexcept {
  // owner, type/class/ttl/rdlength, algorithm, time (6), fudge, mac size,
  // original id, error, other length.
  return req.key.len + 10 + req.algorithm.len + 6 + 2 + 2 + 2 + 2 + 2;
}

bool writeUnsigned(Writer& w, const Record& req, std::uint16_t error,
                   std::uint64_t timeSigned) noexcept {
  w.bytes(req.key.span());
  w.u16(dns::toU16(dns::Type::TSIG));
  w.u16(dns::kClassANY);
  w.u32(0);
  w.u16(static_cast<std::uint16_t>(req.algorithm.len + 16));
  w.bytes(req.algorithm.span());
  w.u16(static_cast<std::uint16_t>(timeSigned >> 32));
  w.u32(static_cast<std::uint32_t>(timeSigned));
  w.u16(req.fudge);
  w.u16(0);  // MAC size: an error response to an unverified request is unsigned
  w.u16(req.originalId);
  w.u16(error);
  w.u16(0);  // other length
  return w.ok();
}

}  // namespace geodns::tsig
