#include "core/wire/response.h"

#include <cstring>

namespace geodns::wire {

std::size_t Response::writeOpt(std::uint8_t* out, const ParsedQuery& q, std::uint16_t advertised,
                               std::uint16_t rcode, bool dnssecOk, std::uint8_t ecsScope) noexcept {
  const std::size_t ecsLen = q.ecs ? (q.ecsSource + 7u) / 8u : 0;
  const std::uint16_t rdlen = static_cast<std::uint16_t>(q.ecs ? 8 + ecsLen : 0);
  out[0] = 0;  // root
  out[1] = 0;
  out[2] = 41;  // OPT
  out[3] = static_cast<std::uint8_t>(advertised >> 8);
  out[4] = static_cast<std::uint8_t>(advertised);
  out[5] = static_cast<std::uint8_t>(rcode >> 4);  // extended rcode
  out[6] = 0;                                      // version
  out[7] = static_cast<std::uint8_t>(dnssecOk ? 0x80 : 0);
  out[8] = 0;
  out[9] = static_cast<std::uint8_t>(rdlen >> 8);
  out[10] = static_cast<std::uint8_t>(rdlen);
  if (q.ecs) {  // RFC 7871 s7.2.1: echo FAMILY, SOURCE PREFIX and ADDRESS
    std::uint8_t* e = out + kOptSize;
    e[0] = static_cast<std::uint8_t>(kOptionEcs >> 8);
    e[1] = static_cast<std::uint8_t>(kOptionEcs);
    e[2] = 0;
    e[3] = static_cast<std::uint8_t>(4 + ecsLen);
    e[4] = static_cast<std::uint8_t>(q.ecsFamily >> 8);
    e[5] = static_cast<std::uint8_t>(q.ecsFamily);
    e[6] = q.ecsSource;
    e[7] = ecsScope;
    std::memcpy(e + 8, q.ecsAddress, ecsLen);
  }
  return kOptSize + rdlen;
}

std::size_t Response::finish(dns::Rcode rcode, bool aa, bool dnssecOk) noexcept {
  const std::uint16_t rc = dns::toU16(rcode);
  std::uint16_t ar = counts_[static_cast<std::size_t>(dns::Section::Additional)];
  if (edns_) {  // its room was reserved
    std::uint8_t opt[kMaxOptSize];
    const std::size_t n = writeOpt(opt, query_, advertised_, rc, dnssecOk, ecsScope_);
    w_.setLimit(fullLimit_);
    w_.bytes({opt, n});
    ++ar;
  }
  if (tsig_) {  // last record of the message (RFC 8945 5.1)
    w_.setLimit(fullLimit_);
    const std::size_t mark = w_.size();
    if (tsig::writeUnsigned(w_, *tsig_, tsigError_, tsig_->timeSigned)) {
      ++ar;
    } else {  // only over UDP with huge names: the client retries over TCP
      w_.truncate(mark);
      truncated_ = true;
    }
  }
  std::uint16_t flags = static_cast<std::uint16_t>(flags_ | (rc & dns::kRcodeMask));
  if (aa) flags |= dns::kFlagAA;
  if (truncated_) flags |= dns::kFlagTC;
  if (!w_.ok() || w_.size() < dns::kHeaderSize) return 0;
  const std::uint16_t words[5] = {flags, qd_, counts_[0], counts_[1], ar};
  std::uint8_t* h = w_.data() + 2;
  for (std::size_t i = 0; i < 5; ++i) {
    h[2 * i] = static_cast<std::uint8_t>(words[i] >> 8);
    h[2 * i + 1] = static_cast<std::uint8_t>(words[i]);
  }
  return w_.size();
}

}  // namespace geodns::wire
