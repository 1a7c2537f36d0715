#pragma once
// Address match lists for who may transfer a zone or send us a NOTIFY:
// entries "any", an address ("192.0.2.1", "2001:db8::1") or a prefix
// ("192.0.2.0/24", "2001:db8::/32"), each optionally negated with a leading
// "!". The first entry that matches decides; an address no entry matches is
// denied, so an empty list denies everyone. Built on the control side, then
// only read (any thread); allows() neither allocates nor locks.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.h"

namespace geodns {

class Acl {
 public:
  // Appends one entry. False, with the reason in *err, for an entry that is
  // not "any" or an address or prefix, or a prefix with host bits set (most
  // likely a typo: "192.0.2.1/24").
  bool add(std::string_view entry, std::string* err);

  // Whether `client` may. An IPv4-mapped IPv6 address (::ffff:192.0.2.1, from
  // a dual-stack socket) is matched as the IPv4 address it carries.
  bool allows(const IpAddress& client) const noexcept;

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  // The entries as given, normalised ("any", "!192.0.2.0/24"), comma-separated.
  std::string str() const;

 private:
  struct Entry {
    IpPrefix prefix;   // unused when `any`
    bool any = false;  // every address of both families
    bool deny = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace geodns
