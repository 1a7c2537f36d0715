// libFuzzer target: zone file text through ldns parsing and zone compilation,
// and the two-thread parse against one pass.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/result.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::string path = [] {
    char tmpl[] = "/tmp/geodns-fuzz-zone-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    return std::string(tmpl);
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  geodns::ErrorList errors;
  auto rrs = geodns::zones::parseZoneFile(path, "fuzz.test", errors, {SIZE_MAX});
  // The two-thread parse (second piece from the first boundary after the
  // middle) gives exactly what one pass gives.
  {
    geodns::ErrorList splitErrors;
    auto split = geodns::zones::parseZoneFile(path, "fuzz.test", splitErrors, {1, size / 2});
    if (split.size() != rrs.size() || splitErrors.str() != errors.str()) __builtin_trap();
    for (std::size_t i = 0; i < rrs.size(); ++i)
      if (split[i].where() != rrs[i].where() ||
          geodns::zones::rrToText(split[i]) != geodns::zones::rrToText(rrs[i]) ||
          split[i].rrclass != rrs[i].rrclass)
        __builtin_trap();
  }
  auto zone = geodns::zones::Zone::compile("fuzz.test", std::move(rrs), errors);
  if (!zone && errors.empty()) __builtin_trap();  // a rejected zone always says why
  return 0;
}
