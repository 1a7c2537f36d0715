#pragma once
// One MaxMind DB file (libmaxminddb, mmap), read through configurable field
// paths. The only file that includes maxminddb.h is database.cc.
#include <memory>
#include <string>
#include <vector>

#include "core/ip.h"
#include "geo/location.h"

namespace geodns::geo {

enum class Layout { Auto, GeoIP2, Flat, Asn };

// Dotted paths into a record ("country.iso_code", "subdivisions.0.iso_code").
// Empty = not read.
struct FieldPaths {
  std::string continent, country, subdivision, latitude, longitude, asn;
  static FieldPaths preset(Layout layout);
};

struct DatabaseSpec {
  std::string file;
  Layout layout = Layout::Auto;
  FieldPaths overrides;   // non-empty entries replace the preset's
  bool optional = false;  // a missing file is skipped instead of an error
  // Read the file where it lies (mmap) instead of compiling it at open: no
  // copy of the search tree, records decoded when first met. Opening is then
  // a few milliseconds instead of a second for DB-IP, but the tree is not
  // checked node by node (check-config does that) and walkRecord() caches:
  // for `geodnsd explain` (one client), single-threaded. Never for serving.
  bool onDemand = false;
};

class Database {
 public:
  ~Database();
  // Opens and validates a database; nullptr with *err on failure.
  static std::unique_ptr<Database> open(const DatabaseSpec& spec, std::string* err);

  enum class Result { Found, NotFound, WrongFamily, Error };
  // Looks `ip` up (IPv4 also in IPv6-layout files, with the -96 prefix fix),
  // filling `loc` (fields it holds; prefix = matched or unmatched block in
  // bits of ip's family). noexcept, allocation-free.
  Result lookup(const IpAddress& ip, Location& loc) const noexcept;

  // Walking the compiled search tree (geo/location_trie.cc): a value is a
  // node (< kWalkLeaf), kWalkEmpty (no record) or a record (>= kWalkLeaf).
  // On demand (DatabaseSpec::onDemand) the same values come from the file:
  // a record value then holds the record's data offset, walkRecord() decodes
  // and caches it (not thread-safe) and walkRecords() is 0 (compile no
  // location trie from such a database; geo::blockAround() walks it).
  static constexpr std::uint32_t kWalkEmpty = 0xFFFFFFFFu;
  static constexpr std::uint32_t kWalkLeaf = 0x80000000u;
  // The value IPv4 (family 4) or IPv6 lookups start from; kWalkEmpty when
  // the file holds no networks of that family.
  std::uint32_t walkRoot(int family) const noexcept;
  std::uint32_t walkChild(std::uint32_t node, int bit) const noexcept;
  // The compiled tree walkChild() reads (2 values per node, child 0 then 1),
  // for walks that take millions of steps; null on demand.
  const std::uint32_t* walkTree() const noexcept;
  const Location& walkRecord(
      std::uint32_t value) const noexcept;   // value in [kWalkLeaf, kWalkEmpty)
  std::size_t walkRecords() const noexcept;  // distinct records: value & ~kWalkLeaf is below
  bool onDemand() const noexcept;

  const std::string& file() const noexcept { return file_; }
  const std::string& type() const noexcept { return type_; }
  Layout layout() const noexcept { return layout_; }
  int ipVersion() const noexcept { return ipVersion_; }
  const FieldPaths& fields() const noexcept { return fields_; }

 private:
  Database() = default;
  Result lookupOnDemand(const IpAddress& ip, Location& loc) const noexcept;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string file_, type_;
  Layout layout_ = Layout::Auto;
  int ipVersion_ = 0;
  FieldPaths fields_;
};

const char* layoutName(Layout l) noexcept;

}  // namespace geodns::geo
