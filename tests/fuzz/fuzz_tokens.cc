// libFuzzer target: the admin token file parser (parseTokens, what
// loadTokens runs over the file's bytes). Invariants: an accepted file
// yields only tokens that can be presented and audited (a UTF-8 name without
// control characters, a secret of 16+ visible ASCII characters, no secret
// twice); a refused one names its place.
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/admin/tokens.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<geodns::server::ApiToken> tokens;
  std::string err;
  const bool ok = geodns::server::parseTokens(text, "fuzz.token", tokens, &err);
  if (!ok) {
    if (err.rfind("fuzz.token", 0) != 0 || !tokens.empty()) __builtin_trap();
    return 0;
  }
  if (tokens.empty()) __builtin_trap();
  std::set<std::string> secrets;
  for (const auto& t : tokens) {
    if (t.name.empty() || t.secret.size() < 16) __builtin_trap();
    for (char c : t.secret)
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
        __builtin_trap();
    for (char c : t.name)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
    if (!secrets.insert(t.secret).second) __builtin_trap();
    // The token it parsed is the token it matches.
    if (geodns::server::matchToken(tokens, t.secret)->secret != t.secret) __builtin_trap();
  }
  return 0;
}
