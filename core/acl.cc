#include "core/acl.h"

namespace geodns {

bool Acl::add(std::string_view entry, std::string* err) {
  Entry e;
  std::string_view text = entry;
  if (!text.empty() && text.front() == '!') {
    e.deny = true;
    text.remove_prefix(1);
  }
  if (text == "any") {
    e.any = true;
    entries_.push_back(e);
    return true;
  }
  std::string why;
  auto p = IpPrefix::parse(text, &why);
  if (!p) {
    *err = "bad address match entry '" + std::string(entry) + "': " + why +
           " (expected \"any\", an address or a prefix, optionally negated with \"!\")";
    return false;
  }
  e.prefix = *p;
  entries_.push_back(e);
  return true;
}

bool Acl::allows(const IpAddress& client) const noexcept {
  const IpAddress a = client.isV4Mapped() ? client.v4FromMapped() : client;
  if (a.family != 4 && a.family != 6) return false;
  for (const auto& e : entries_) {
    const bool match =
        e.any || (e.prefix.addr.family == a.family && a.masked(e.prefix.length) == e.prefix.addr);
    if (match) return !e.deny;
  }
  return false;
}

std::string Acl::str() const {
  std::string out;
  for (const auto& e : entries_) {
    if (!out.empty()) out += ", ";
    if (e.deny) out += '!';
    out += e.any ? "any" : e.prefix.str();
  }
  return out;
}

}  // namespace geodns
