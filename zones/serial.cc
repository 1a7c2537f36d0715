#include "zones/serial.h"

namespace geodns::zones {

SerialOrder compareSerial(std::uint32_t a, std::uint32_t b) noexcept {
  if (a == b) return SerialOrder::Equal;
  const std::uint32_t ahead = b - a;  // modulo 2^32
  if (ahead == 0x80000000u) return SerialOrder::Undefined;
  return ahead < 0x80000000u ? SerialOrder::Less : SerialOrder::Greater;
}

std::optional<SerialPolicy> serialPolicyFromText(std::string_view text) noexcept {
  if (text == "keep") return SerialPolicy::Keep;
  if (text == "increment") return SerialPolicy::Increment;
  if (text == "unixtime") return SerialPolicy::UnixTime;
  return std::nullopt;
}

namespace {
// The later of two serials; `a` when they are not comparable.
std::uint32_t later(std::uint32_t a, std::uint32_t b) noexcept {
  return compareSerial(a, b) == SerialOrder::Less ? b : a;
}
}  // namespace

SerialChoice chooseSerial(SerialPolicy policy, std::optional<std::uint32_t> served,
                          std::uint32_t fromFile, bool changed, std::int64_t unixNow) noexcept {
  SerialChoice c;
  const auto now = static_cast<std::uint32_t>(unixNow);  // RFC 1982: serials wrap
  if (policy == SerialPolicy::Keep) {
    c.serial = fromFile;
    c.secondariesMissIt =
        served && changed && compareSerial(*served, fromFile) != SerialOrder::Less;
    return c;
  }
  if (!served) {  // first load: nothing to be ahead of but the file
    c.serial = policy == SerialPolicy::UnixTime ? later(fromFile, now) : fromFile;
    return c;
  }
  if (!changed) {  // the same data keeps its serial, unless the operator moved it on
    c.serial = later(*served, fromFile);
    return c;
  }
  std::uint32_t next = *served + 1;
  if (policy == SerialPolicy::UnixTime && compareSerial(*served, now) == SerialOrder::Less)
    next = now;
  c.serial = later(next, fromFile);
  return c;
}

}  // namespace geodns::zones
