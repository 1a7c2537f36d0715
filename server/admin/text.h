#pragma once
// Text checks shared by the token file, the HTTP front and the handlers.
#include <string_view>

namespace geodns::server::admin {

// Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool validUtf8(std::string_view s);
// Any C0 control character or DEL.
bool hasControl(std::string_view s);
// Visible ASCII only: what a secret may hold and a bearer token may present.
bool visibleAscii(std::string_view s);
// Without spaces and tabs around it (and a trailing CR).
std::string_view trim(std::string_view s);
// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

}  // namespace geodns::server::admin
