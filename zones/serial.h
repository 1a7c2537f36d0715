#pragma once
// SOA serials: RFC 1982 serial number arithmetic, and the serial policy a
// reload applies ("serial": "keep" | "increment" | "unixtime", issue 15 item 4,
// after Knot's serial-policy) so that changed data reaches the secondaries
// even when the zone file's serial did not move. Pure functions.
#include <cstdint>
#include <optional>
#include <string_view>

namespace geodns::zones {

enum class SerialOrder : std::uint8_t { Less, Equal, Greater, Undefined };

// RFC 1982 section 3.2 for 32-bit serials: a < b when b is ahead of a by less
// than 2^31; two serials exactly 2^31 apart are not comparable (Undefined).
SerialOrder compareSerial(std::uint32_t a, std::uint32_t b) noexcept;

enum class SerialPolicy : std::uint8_t {
  Keep,       // serve the zone file's serial as it is
  Increment,  // changed data: one more than the serial served before
  UnixTime,   // changed data: the current Unix time (one more than before if that is not ahead)
};
std::optional<SerialPolicy> serialPolicyFromText(std::string_view text) noexcept;

struct SerialChoice {
  std::uint32_t serial = 0;
  // True when the data changed but the serial served does not move ahead of
  // the previous one (only under Keep): secondaries will not transfer it.
  bool secondariesMissIt = false;
};

// The serial to serve after a (re)load. `served`: the serial served before
// (nullopt at the first load with no persisted state); `fromFile`: the zone
// file's; `changed`: whether any record other than the SOA's serial differs
// from what was served; `unixNow`: the wall clock in seconds. The result is
// never behind the zone file's serial, nor (unless Keep) behind `served`.
SerialChoice chooseSerial(SerialPolicy policy, std::optional<std::uint32_t> served,
                          std::uint32_t fromFile, bool changed, std::int64_t unixNow) noexcept;

}  // namespace geodns::zones
