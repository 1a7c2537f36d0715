#pragma once
// RFC 1035 master files, parsed with ldns (the only file that includes it).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_array.h"
#include "core/result.h"

namespace geodns::zones {

// "file:line" for messages; "file" when `line` is 0, "" without a file.
inline std::string fileLine(const std::string* file, std::uint32_t line) {
  if (!file) return {};
  return line ? *file + ":" + std::to_string(line) : *file;
}

// One resource record as read from a file, in uncompressed wire form.
struct ParsedRR {
  std::string owner;  // lowercase wire name
  std::uint16_t type = 0;
  std::uint16_t rrclass = 0;
  std::uint32_t ttl = 0;
  std::string rdata;  // wire bytes; names in compressible types are lowercased
  // Byte offsets of embedded domain names inside rdata, for types whose names
  // may be compressed (RFC 3597 s4); at most two (SOA, MINFO).
  std::uint8_t nameCount = 0;
  std::uint16_t namePos[2] = {0, 0};
  // Where it was read, for messages: the file (internFileName(): one string
  // for all its records, no reference count per record in a zone of
  // millions) and the line (0: none).
  const std::string* file = nullptr;
  std::uint32_t line = 0;
  std::string where() const { return fileLine(file, line); }
};

// Parsed records packed for the load of a big zone (issue 12 item 4: a
// reload holds the parsed records beside the zone it replaces and the one it
// builds). 32 bytes a record; owners (one copy for records in a row with the
// same owner) and RDATA in one byte block: no allocation per record, and a
// third of a vector of ParsedRR's memory for a zone of A records.
class ParsedRecords {
 public:
  // One record, viewed in place: valid until the next push_back or append.
  struct Ref {
    std::string_view owner;  // lowercase wire name
    std::uint16_t type = 0;
    std::uint16_t rrclass = 0;
    std::uint32_t ttl = 0;
    std::string_view rdata;
    std::uint8_t nameCount = 0;
    std::uint16_t namePos[2] = {0, 0};
    const std::string* file = nullptr;
    std::uint32_t line = 0;
    std::string where() const { return fileLine(file, line); }
  };

  ParsedRecords() = default;
  explicit ParsedRecords(const std::vector<ParsedRR>& rrs);
  ParsedRecords(ParsedRecords&&) noexcept = default;
  ParsedRecords& operator=(ParsedRecords&&) noexcept = default;

  std::size_t size() const noexcept { return recs_.size(); }
  bool empty() const noexcept { return recs_.empty(); }
  Ref operator[](std::size_t i) const noexcept;
  std::string_view owner(std::size_t i) const noexcept {
    const Packed& p = recs_[i];
    return {bytes_.data() + p.ownerOff, p.ownerLen};
  }
  std::uint16_t type(std::size_t i) const noexcept { return recs_[i].type; }
  // The RDATA of record i, to change in place (a SOA's serial).
  char* rdataData(std::size_t i) noexcept { return bytes_.data() + recs_[i].rdataOff; }
  // The file record i was read from, as a small index into files(): the zone
  // compile keeps it with the line (8 bytes a record) after the records are gone.
  std::uint16_t fileIndex(std::size_t i) const noexcept { return recs_[i].file; }
  // The file names by fileIndex() (0: none), a copy that outlives the records.
  class Files {
   public:
    const std::string* operator[](std::uint16_t index) const noexcept;

   private:
    friend class ParsedRecords;
    std::vector<const std::string*> names_;  // interned (internFileName): they stay
  };
  const Files& files() const noexcept { return files_; }

  // Drops the records at `sorted` (ascending indexes); the others keep their order.
  void erase(const std::vector<std::size_t>& sorted);
  // Orders the records by owner (bytewise: wire names), records of one owner
  // in the order they were added.
  void sortByOwner();
  // Records [0, n) will not be read again: their memory goes back to the
  // kernel, whole huge pages at a time (core/mapped_array.h).
  void releaseFront(std::size_t n) noexcept { recs_.releaseFront(n); }

  // Copies the record in. False, and nothing added, when the owner is longer
  // than 255 bytes or the byte block would pass 4 GiB (ok() is false from
  // then on).
  bool push_back(const ParsedRR& rr);
  bool add(std::string_view owner, std::uint16_t type, std::uint16_t rrclass, std::uint32_t ttl,
           std::string_view rdata, std::uint8_t nameCount, const std::uint16_t namePos[2],
           const std::string* file, std::uint32_t line);
  bool ok() const noexcept { return ok_; }
  // Moves `more`'s records to the end, their lines moved on by `lineOffset`.
  void append(ParsedRecords&& more, std::uint32_t lineOffset);
  // Room for `records` and `bytes` bytes of owners and RDATA, on huge pages
  // (core/huge_pages.h); pages never written stay unmapped.
  void reserve(std::size_t records, std::size_t bytes);

  ParsedRR at(std::size_t i) const;
  std::vector<ParsedRR> toVector() const;

 private:
  struct Packed {
    std::uint32_t ownerOff = 0;
    std::uint32_t rdataOff = 0;
    std::uint32_t rdataLen = 0;
    std::uint32_t ttl = 0;
    std::uint32_t line = 0;
    std::uint16_t type = 0;
    std::uint16_t rrclass = 0;
    std::uint16_t namePos[2] = {0, 0};
    std::uint16_t file = 0;  // 1 + index in files_; 0: none
    std::uint8_t ownerLen = 0;
    std::uint8_t nameCount = 0;
  };
  static_assert(sizeof(Packed) == 32);
  std::uint16_t indexOfFile(const std::string* file);

  MappedArray<Packed> recs_;
  MappedArray<char> bytes_;  // owners and RDATA, in the order added
  Files files_;
  bool ok_ = true;
};

// A process-lifetime copy of `path` for ParsedRR::file, the same pointer for
// the same text (a set that grows with the distinct zone, $INCLUDE and key
// file names ever loaded). Thread-safe.
const std::string* internFileName(const std::string& path);

// Parses `path` with $ORIGIN defaulting to `origin` (presentation form).
// $INCLUDE paths are relative to the including file. Every syntax error is
// added to `errors` (file:line) and parsing continues with the next record.
std::vector<ParsedRR> parseZoneFile(const std::string& path, const std::string& origin,
                                    ErrorList& errors);

// The two-thread parse of a big top-level file (no $INCLUDE): the second
// half is parsed on a second thread from the first record boundary after
// its middle; the result is kept only when it equals one pass's (no error
// in either half, the same origin and TTL at the boundary), else the file
// is parsed again in one pass. Tests choose where the second piece starts.
struct ParseSplit {
  std::size_t minBytes = std::size_t{1} << 20;  // smaller files: one pass
  std::size_t from = SIZE_MAX;  // the boundary at or after this byte; MAX: the middle
  bool* took = nullptr;         // set to whether two pieces were used
  // One-line A and AAAA records in the plainest form are read without ldns
  // (zone_file.cc: parsePlainAddress); false: every record through ldns
  // (tests compare the two).
  bool plainAddresses = true;
  std::size_t* plainCount = nullptr;  // tests: records read without ldns are added here
};
std::vector<ParsedRR> parseZoneFile(const std::string& path, const std::string& origin,
                                    ErrorList& errors, const ParseSplit& split);
// The same records packed (what the zone load uses).
ParsedRecords parseZoneRecords(const std::string& path, const std::string& origin,
                               ErrorList& errors, const ParseSplit& split = {});

// Presentation form of one record (for explain/diagnostics and tests).
std::string rrToText(const ParsedRR& rr);

// One record in RFC 1035 presentation form as ldns writes it (zone-file
// syntax: absolute names, type mnemonics, RRSIG times as YYYYMMDDHHmmSS), no
// comment, no newline; class IN. `owner` and names in `rdata` uncompressed
// wire. The RFC 3597 generic form (rrToText) when ldns cannot read the RDATA.
std::string recordText(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint32_t ttl,
                       std::span<const std::uint8_t> rdata);

// A whole DNS message in dig-like presentation form (explain), via ldns.
std::string messageToText(const std::uint8_t* data, std::size_t len);

// One answer-section record of a received message (zones/xfr_in.h).
struct TextRR {
  std::string owner;  // lowercase wire name
  std::uint16_t type = 0;
  std::uint16_t rrclass = 0;
  std::string text;          // presentation form, absolute names, no comment, no newline
  std::uint32_t serial = 0;  // SOA: its SERIAL; 0 for other types
};

// Appends the ANSWER section of the DNS message `msg` to `out`, in order,
// decompressed by ldns (names inside RDATA too, for every type ldns knows).
// The other sections are parsed (a malformed one fails) but not returned.
// Checks nothing of the header: that is the caller's. False, with *err set
// and `out` unchanged, when ldns cannot parse the message.
bool messageAnswers(std::span<const std::uint8_t> msg, std::vector<TextRR>& out, std::string* err);

}  // namespace geodns::zones
