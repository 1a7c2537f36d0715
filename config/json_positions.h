#pragma once
// Line and column of every value in a JSON text, keyed by JSON pointer
// (RFC 6901), so config errors can say "geodnsd.json:17:5 /pools/web/ttl".
// nlohmann::json keeps no positions; this is a small scanner over text that
// has already parsed successfully.
#include <map>
#include <string>
#include <utility>

namespace geodns::config {

using JsonPositions = std::map<std::string, std::pair<int, int>>;  // pointer -> (line, column)

JsonPositions jsonPositions(const std::string& text);

// RFC 6901 escaping of one reference token ("~" -> "~0", "/" -> "~1").
std::string jsonPointerEscape(const std::string& token);

}  // namespace geodns::config
