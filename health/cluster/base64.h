#pragma once
// Base64 (RFC 4648 section 4, standard alphabet, with padding): how etcd's
// JSON gateway carries keys and values.
#include <optional>
#include <string>
#include <string_view>

namespace geodns::health::cluster {

std::string base64Encode(std::string_view bytes);
// nullopt on a character outside the alphabet, a length that is not a
// multiple of 4, misplaced padding, or non-zero bits left over before the
// padding (so every byte string has exactly one accepted encoding).
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace geodns::health::cluster
