#include "core/wire/response.h"

namespace geodns::wire {

std::size_t Response::finish(dns::Rcode rcode, bool aa, bool dnssecOk) noexcept {
  const std::uint16_t rc = dns::toU16(rcode);
  std::uint16_t ar = counts_[static_cast<std::size_t>(dns::Section::Additional)];
  if (edns_) {
    w_.setLimit(fullLimit_);
    w_.u8(0);
    w_.u16(dns::toU16(dns::Type::OPT));
    w_.u16(advertised_);
    w_.u32((static_cast<std::uint32_t>(rc >> 4) << 24) | (dnssecOk ? dns::kEdnsDO : 0));
    if (query_.ecs) {  // RFC 7871 s7.2.1: echo FAMILY, SOURCE PREFIX and ADDRESS
      const std::size_t len = (query_.ecsSource + 7u) / 8u;
      w_.u16(static_cast<std::uint16_t>(4 + 4 + len));
      w_.u16(kOptionEcs);
      w_.u16(static_cast<std::uint16_t>(4 + len));
      w_.u16(query_.ecsFamily);
      w_.u8(query_.ecsSource);
      w_.u8(ecsScope_);
      w_.bytes({query_.ecsAddress, len});
    } else {
      w_.u16(0);
    }
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
  w_.patch16(2, flags);
  w_.patch16(4, qd_);
  w_.patch16(6, counts_[static_cast<std::size_t>(dns::Section::Answer)]);
  w_.patch16(8, counts_[static_cast<std::size_t>(dns::Section::Authority)]);
  w_.patch16(10, ar);
  return w_.ok() ? w_.size() : 0;
}

}  // namespace geodns::wire
