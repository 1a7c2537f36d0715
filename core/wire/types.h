#pragma once
// RR type mnemonics (RFC 1035, RFC 3597 "TYPEnnn"), owned by core so that the
// config, the logs and the metrics need no zone-file library to name a type.
#include <cstdint>
#include <string>
#include <string_view>

namespace geodns::dns {

// "A", "AAAA", ... or "TYPEnnn" for a type without a mnemonic.
std::string typeToText(std::uint16_t type);

// The type a mnemonic (case-insensitive) or an RFC 3597 "TYPEnnn" (1..65535,
// plain digits) names; 0 for anything else.
std::uint16_t typeFromText(std::string_view text);

}  // namespace geodns::dns
