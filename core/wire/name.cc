#include "core/wire/name.h"

#include <cctype>
#include <cstdio>
#include <cstring>

namespace geodns::name {

bool read(Reader& r, NameBuf& out, bool lower) noexcept {
  auto buf = r.buffer();
  std::size_t pos = r.pos();
  std::size_t resume = 0;  // where the reader continues after the first pointer
  bool jumped = false;
  std::size_t len = 0;
  std::size_t lowest_target = pos;  // pointers must go strictly below this
  for (;;) {
    if (pos >= buf.size()) return r.fail(), false;
    std::uint8_t c = buf[pos];
    if ((c & 0xC0) == 0xC0) {
      if (pos + 1 >= buf.size()) return r.fail(), false;
      std::size_t target = (static_cast<std::size_t>(c & 0x3F) << 8) | buf[pos + 1];
      if (target >= lowest_target) return r.fail(), false;  // forward or looping pointer
      if (!jumped) {
        resume = pos + 2;
        jumped = true;
      }
      lowest_target = target;
      pos = target;
      continue;
    }
    if ((c & 0xC0) != 0) return r.fail(), false;  // 0x40/0x80: extended label types, obsolete
    if (len + 1 + c > dns::kMaxNameWire) return r.fail(), false;
    if (pos + 1 + c > buf.size()) return r.fail(), false;
    std::memcpy(out.data + len, buf.data() + pos, std::size_t{1} + c);
    len += std::size_t{1} + c;
    pos += std::size_t{1} + c;
    if (c == 0) break;
  }
  out.len = len;
  if (lower) toLower(out.data, len);
  std::size_t end = jumped ? resume : pos;
  r.skip(end - r.pos());
  return r.ok();
}

std::size_t labelCount(Span name) noexcept {
  std::size_t n = 0, i = 0;
  while (i < name.size() && name[i] != 0) {
    i += std::size_t{1} + name[i];
    ++n;
  }
  return n;
}

std::size_t labelOffsets(Span name, std::uint8_t* offs) noexcept {
  std::size_t n = 0, i = 0;
  while (i < name.size() && name[i] != 0 && n < 127) {
    offs[n++] = static_cast<std::uint8_t>(i);
    i += std::size_t{1} + name[i];
  }
  offs[n] = static_cast<std::uint8_t>(i);
  return n;
}

bool isSubdomain(Span name, Span zone) noexcept {
  if (zone.size() > name.size()) return false;
  std::size_t start = name.size() - zone.size();
  if (std::memcmp(name.data() + start, zone.data(), zone.size()) != 0) return false;
  // The suffix must start on a label boundary.
  std::size_t i = 0;
  while (i < start) i += std::size_t{1} + name[i];
  return i == start;
}

int compareCanonical(Span a, Span b) noexcept {
  std::uint8_t offA[128], offB[128];
  std::size_t na = labelOffsets(a, offA), nb = labelOffsets(b, offB);
  auto lower = [](std::uint8_t c) -> int { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; };
  while (na > 0 && nb > 0) {
    --na;
    --nb;
    const std::size_t la = a[offA[na]], lb = b[offB[nb]];
    const std::uint8_t* pa = a.data() + offA[na] + 1;
    const std::uint8_t* pb = b.data() + offB[nb] + 1;
    for (std::size_t i = 0; i < la && i < lb; ++i)
      if (const int d = lower(pa[i]) - lower(pb[i]); d != 0) return d;
    if (la != lb) return la < lb ? -1 : 1;
  }
  return na == nb ? 0 : (na < nb ? -1 : 1);
}

Span parent(Span name, std::size_t drop) noexcept {
  std::size_t i = 0;
  while (drop-- > 0 && i < name.size() && name[i] != 0) i += std::size_t{1} + name[i];
  if (i > name.size()) i = name.size();
  return name.subspan(i);
}

std::optional<std::string> fromText(std::string_view text) {
  std::string out;
  if (text == "." || text.empty()) return std::string(1, '\0');
  std::string label;
  auto flush = [&]() -> bool {
    if (label.empty() || label.size() > dns::kMaxLabel) return false;
    out.push_back(static_cast<char>(label.size()));
    out += label;
    label.clear();
    return true;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 3 < text.size() + 0 && std::isdigit(static_cast<unsigned char>(text[i + 1])) &&
          std::isdigit(static_cast<unsigned char>(text[i + 2])) &&
          std::isdigit(static_cast<unsigned char>(text[i + 3]))) {
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255) return std::nullopt;
        label.push_back(static_cast<char>(v));
        i += 3;
      } else if (i + 1 < text.size()) {
        label.push_back(text[++i]);
      } else {
        return std::nullopt;
      }
    } else if (c == '.') {
      if (!flush()) return std::nullopt;
    } else {
      label.push_back(c);
    }
  }
  if (!label.empty() && !flush()) return std::nullopt;
  out.push_back('\0');
  if (out.size() > dns::kMaxNameWire) return std::nullopt;
  toLower(reinterpret_cast<std::uint8_t*>(out.data()), out.size());
  return out;
}

std::string toText(Span name) {
  if (name.empty() || name[0] == 0) return ".";
  std::string out;
  std::size_t i = 0;
  while (i < name.size() && name[i] != 0) {
    std::size_t n = name[i];
    for (std::size_t k = 1; k <= n && i + k < name.size(); ++k) {
      auto c = static_cast<unsigned char>(name[i + k]);
      if (c == '.' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x21 || c > 0x7e) {
        char esc[5];
        std::snprintf(esc, sizeof esc, "\\%03u", c);
        out += esc;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
    i += n + 1;
  }
  return out;
}

}  // namespace geodns::name
