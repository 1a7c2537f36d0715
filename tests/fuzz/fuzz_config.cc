// libFuzzer target: the JSON config parser.
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  geodns::ErrorList errors;
  auto cfg = geodns::config::parseConfig(std::string(reinterpret_cast<const char*>(data), size),
                                        "fuzz.json", errors);
  if (!cfg && errors.empty()) __builtin_trap();
  if (cfg && !errors.empty()) __builtin_trap();
  return 0;
}
