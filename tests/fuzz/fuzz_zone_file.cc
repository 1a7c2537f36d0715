// libFuzzer target: zone file text through ldns parsing and zone compilation,
// the two-thread parse against one pass, and the plain A/AAAA lines read
// without ldns against ldns alone.
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
  geodns::zones::ParseSplit ldnsOnly{SIZE_MAX};
  ldnsOnly.plainAddresses = false;
  auto rrs = geodns::zones::parseZoneFile(path, "fuzz.test", errors, ldnsOnly);
  auto same = [&](const std::vector<geodns::zones::ParsedRR>& other,
                  const geodns::ErrorList& otherErrors) {
    if (other.size() != rrs.size() || otherErrors.str() != errors.str()) __builtin_trap();
    for (std::size_t i = 0; i < rrs.size(); ++i)
      if (other[i].where() != rrs[i].where() ||
          geodns::zones::rrToText(other[i]) != geodns::zones::rrToText(rrs[i]) ||
          other[i].rrclass != rrs[i].rrclass || other[i].nameCount != rrs[i].nameCount)
        __builtin_trap();
  };
  // One pass with the plain address lines read without ldns, and the
  // two-thread parse (second piece from the first boundary after the
  // middle), give exactly what ldns alone gives.
  {
    geodns::ErrorList plainErrors;
    same(geodns::zones::parseZoneFile(path, "fuzz.test", plainErrors, {SIZE_MAX}), plainErrors);
    geodns::ErrorList splitErrors;
    same(geodns::zones::parseZoneFile(path, "fuzz.test", splitErrors, {1, size / 2}), splitErrors);
  }
  auto zone = geodns::zones::Zone::compile("fuzz.test", std::move(rrs), errors);
  if (!zone && errors.empty()) __builtin_trap();  // a rejected zone always says why
  return 0;
}
