#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/acl.h"

using namespace geodns;

namespace {

Acl make(const std::vector<std::string>& entries) {
  Acl acl;
  std::string err;
  for (const auto& e : entries) REQUIRE_MESSAGE(acl.add(e, &err), err);
  return acl;
}

}  // namespace

TEST_CASE("Acl: who may, first match decides") {
  struct Case {
    const char* name;
    std::vector<std::string> entries;
    const char* client;
    bool allowed;
  };
  const Case cases[] = {
      {"empty list denies", {}, "192.0.2.1", false},
      {"any allows IPv4", {"any"}, "192.0.2.1", true},
      {"any allows IPv6", {"any"}, "2001:db8::1", true},
      {"inside a /24", {"192.0.2.0/24"}, "192.0.2.200", true},
      {"outside a /24", {"192.0.2.0/24"}, "192.0.3.1", false},
      {"first address of the /24", {"192.0.2.0/24"}, "192.0.2.0", true},
      {"odd prefix length inside", {"198.51.100.128/25"}, "198.51.100.129", true},
      {"odd prefix length outside", {"198.51.100.128/25"}, "198.51.100.127", false},
      {"a bare address is a host", {"192.0.2.1"}, "192.0.2.1", true},
      {"a bare address is only that host", {"192.0.2.1"}, "192.0.2.2", false},
      {"/0 of IPv4 takes every IPv4", {"0.0.0.0/0"}, "203.0.113.9", true},
      {"/0 of IPv4 takes no IPv6", {"0.0.0.0/0"}, "2001:db8::1", false},
      {"inside an IPv6 /32", {"2001:db8::/32"}, "2001:db8:ffff::1", true},
      {"outside an IPv6 /32", {"2001:db8::/32"}, "2001:db9::1", false},
      {"IPv6 host", {"::1"}, "::1", true},
      {"an IPv6 prefix takes no IPv4", {"::/0"}, "192.0.2.1", false},
      {"IPv4-mapped matched as IPv4", {"192.0.2.0/24"}, "::ffff:192.0.2.7", true},
      {"IPv4-mapped outside", {"192.0.2.0/24"}, "::ffff:192.0.3.7", false},
      {"negation first: denied", {"!192.0.2.128/25", "192.0.2.0/24"}, "192.0.2.200", false},
      {"negation first: the rest allowed", {"!192.0.2.128/25", "192.0.2.0/24"}, "192.0.2.7", true},
      {"negation after: never reached", {"192.0.2.0/24", "!192.0.2.128/25"}, "192.0.2.200", true},
      {"!any denies everyone after it", {"!any", "192.0.2.0/24"}, "192.0.2.1", false},
      {"a denied host, then any", {"!127.0.0.2", "any"}, "127.0.0.2", false},
      {"another host, then any", {"!127.0.0.2", "any"}, "127.0.0.1", true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    const Acl acl = make(c.entries);
    CHECK(acl.allows(*IpAddress::parse(c.client)) == c.allowed);
  }
  CHECK_FALSE(make({"any"}).allows(IpAddress{}));  // no address at all
}

TEST_CASE("Acl: entries it refuses, with the reason") {
  struct Case {
    const char* entry;
    const char* error;
  };
  const Case cases[] = {
      {"192.0.2.1/24", "host bits set"},
      {"192.0.2.0/33", "bad prefix length"},
      {"2001:db8::/129", "bad prefix length"},
      {"192.0.2.0/", "bad prefix length"},
      {"example.test", "not an IP address"},
      {"", "not an IP address"},
      {"!", "not an IP address"},
      {"any/8", "not an IP address"},
      {"ANY", "not an IP address"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.entry));
    Acl acl;
    std::string err;
    CHECK_FALSE(acl.add(c.entry, &err));
    CHECK(err.find(c.error) != std::string::npos);
    CHECK(err.find(std::string("'") + c.entry + "'") != std::string::npos);
    CHECK(acl.empty());
  }
}

TEST_CASE("Acl: its entries as text") {
  CHECK(make({"any"}).str() == "any");
  CHECK(make({"!192.0.2.0/25", "2001:db8::/32", "192.0.2.1"}).str() ==
        "!192.0.2.0/25, 2001:db8::/32, 192.0.2.1/32");
}
