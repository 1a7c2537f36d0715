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
};

// The file is read where it lies (libmaxminddb's mmap): no copy of its
// search tree or records. Serving never looks a client up here: the location
// tries (geo/location_trie.h) are walked from this once per config and answer
// every query; lookup() is for `geodnsd explain`, tests and configs without
// tries. After the walk, releasePages() unmaps the pages it touched (they
// stay in the page cache), so the file costs no resident memory while
// serving.
class Database {
 public:
  ~Database();
  // Opens and validates a database; nullptr with *err on failure.
  static std::unique_ptr<Database> open(const DatabaseSpec& spec, std::string* err);

  enum class Result { Found, NotFound, WrongFamily, Error };
  // Looks `ip` up (IPv4 also in IPv6-layout files, with the -96 prefix fix),
  // filling `loc` (fields it holds; prefix = matched or unmatched block in
  // bits of ip's family). noexcept, allocation-free, thread-safe; decodes
  // the record (about a microsecond).
  Result lookup(const IpAddress& ip, Location& loc) const noexcept;

  // Walking the search tree (geo/location_trie.cc): a value is a node
  // (< kWalkLeaf), kWalkEmpty (no record, or a pointer outside the file) or
  // a record (>= kWalkLeaf: kWalkLeaf | the record's offset in the data
  // section).
  static constexpr std::uint32_t kWalkEmpty = 0xFFFFFFFFu;
  static constexpr std::uint32_t kWalkLeaf = 0x80000000u;
  // The search tree as mapped: child() is inline, for walks that take
  // millions of steps.
  struct Tree {
    const unsigned char* base = nullptr;
    std::uint32_t nodes = 0;     // node count
    std::uint32_t dataSize = 0;  // bytes in the data section
    std::uint8_t nodeBytes = 6;  // 6, 7 or 8 (record size 24, 28 or 32)
    std::uint32_t child(std::uint32_t node, int bit) const noexcept {
      const unsigned char* p = base + std::size_t{node} * nodeBytes;
      std::uint32_t r;
      switch (nodeBytes) {
        case 6:
          p += bit ? 3 : 0;
          r = std::uint32_t{p[0]} << 16 | std::uint32_t{p[1]} << 8 | p[2];
          break;
        case 7:
          // The middle byte holds the high nibble of each record.
          r = bit ? (std::uint32_t{p[3]} & 0x0Fu) << 24 | std::uint32_t{p[4]} << 16 |
                        std::uint32_t{p[5]} << 8 | p[6]
                  : (std::uint32_t{p[3]} & 0xF0u) << 20 | std::uint32_t{p[0]} << 16 |
                        std::uint32_t{p[1]} << 8 | p[2];
          break;
        default:
          p += bit ? 4 : 0;
          r = std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
              p[3];
          break;
      }
      if (r < nodes) return r;
      // A data pointer counts from the end of the tree, past 16 zero bytes.
      const std::uint64_t offset = std::uint64_t{r} - nodes - 16;
      return r > nodes && r - nodes >= 16 && offset < dataSize
                 ? kWalkLeaf | static_cast<std::uint32_t>(offset)
                 : kWalkEmpty;
    }
  };
  const Tree& walkTree() const noexcept { return tree_; }
  // The value IPv4 (family 4) or IPv6 lookups start from; kWalkEmpty when
  // the file holds no networks of that family.
  std::uint32_t walkRoot(int family) const noexcept;
  std::uint32_t walkChild(std::uint32_t node, int bit) const noexcept {
    return tree_.child(node, bit);
  }
  // The record `value` (in [kWalkLeaf, kWalkEmpty)) points to, decoded.
  // Thread-safe; callers that meet a record often cache by value. What a
  // location class keeps (RecordFields::Class: no ASN, coordinates only when
  // asked) skips the other fields' lookups, half of a decode.
  enum class RecordFields : std::uint8_t { All, Class, ClassWithCoords };
  Location walkRecord(std::uint32_t value, RecordFields fields = RecordFields::All) const noexcept;
  // Unmaps the pages walks have touched (madvise MADV_DONTNEED): they stay
  // in the page cache and come back on the next read.
  void releasePages() const noexcept;

  const std::string& file() const noexcept { return file_; }
  const std::string& type() const noexcept { return type_; }
  Layout layout() const noexcept { return layout_; }
  int ipVersion() const noexcept { return ipVersion_; }
  const FieldPaths& fields() const noexcept { return fields_; }

 private:
  Database() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Tree tree_;
  std::uint32_t v4Start_ = 0;  // value IPv4 lookups start from
  std::string file_, type_;
  Layout layout_ = Layout::Auto;
  int ipVersion_ = 0;
  FieldPaths fields_;
};

const char* layoutName(Layout l) noexcept;

}  // namespace geodns::geo
