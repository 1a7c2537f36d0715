#include <algorithm>
#include <cstring>
#include <limits>

#include "zones/zone_file.h"

namespace geodns::zones {

namespace {

// Files past the 65,535th of one load share this name (a u16 per record).
const std::string kManyFiles = "(one of more than 65,534 included files)";
constexpr std::uint16_t kManyFilesIndex = 0xFFFF;

}  // namespace

ParsedRecords::ParsedRecords(const std::vector<ParsedRR>& rrs) {
  recs_.reserve(rrs.size());
  for (const auto& rr : rrs) push_back(rr);
}

const std::string* ParsedRecords::Files::operator[](std::uint16_t index) const noexcept {
  if (index == kManyFilesIndex) return &kManyFiles;
  return index == 0 || index > names_.size() ? nullptr : names_[index - 1u];
}

ParsedRecords::Ref ParsedRecords::operator[](std::size_t i) const noexcept {
  const Packed& p = recs_[i];
  Ref r;
  r.owner = std::string_view(bytes_.data() + p.ownerOff, p.ownerLen);
  r.type = p.type;
  r.rrclass = p.rrclass;
  r.ttl = p.ttl;
  r.rdata = std::string_view(bytes_.data() + p.rdataOff, p.rdataLen);
  r.nameCount = p.nameCount;
  r.namePos[0] = p.namePos[0];
  r.namePos[1] = p.namePos[1];
  r.file = files_[p.file];
  r.line = p.line;
  return r;
}

std::uint16_t ParsedRecords::indexOfFile(const std::string* file) {
  if (!file) return 0;
  // Records come file by file: the last one added is the likeliest.
  if (!recs_.empty()) {
    const std::uint16_t last = recs_.back().file;
    if (last != 0 && files_[last] == file) return last;
  }
  auto& names = files_.names_;
  const auto it = std::find(names.begin(), names.end(), file);
  if (it != names.end()) return static_cast<std::uint16_t>(it - names.begin() + 1);
  if (names.size() + 1 >= kManyFilesIndex) return kManyFilesIndex;
  names.push_back(file);
  return static_cast<std::uint16_t>(names.size());
}

bool ParsedRecords::push_back(const ParsedRR& rr) {
  return add(rr.owner, rr.type, rr.rrclass, rr.ttl, rr.rdata, rr.nameCount, rr.namePos, rr.file,
             rr.line);
}

bool ParsedRecords::add(std::string_view owner, std::uint16_t type, std::uint16_t rrclass,
                        std::uint32_t ttl, std::string_view rdata, std::uint8_t nameCount,
                        const std::uint16_t namePos[2], const std::string* file,
                        std::uint32_t line) {
  if (!ok_ || owner.size() > 255) return false;
  Packed p;
  // An owner the same as the record before's is not stored again.
  const bool sameOwner = !recs_.empty() && this->owner(recs_.size() - 1) == owner;
  const std::size_t need = (sameOwner ? 0 : owner.size()) + rdata.size();
  if (bytes_.size() + need > std::numeric_limits<std::uint32_t>::max() ||
      rdata.size() > std::numeric_limits<std::uint32_t>::max()) {
    ok_ = false;
    return false;
  }
  if (sameOwner) {
    p.ownerOff = recs_.back().ownerOff;
  } else {
    p.ownerOff = static_cast<std::uint32_t>(bytes_.size());
    bytes_.append(owner.data(), owner.size());
  }
  p.ownerLen = static_cast<std::uint8_t>(owner.size());
  p.rdataOff = static_cast<std::uint32_t>(bytes_.size());
  p.rdataLen = static_cast<std::uint32_t>(rdata.size());
  bytes_.append(rdata.data(), rdata.size());
  p.ttl = ttl;
  p.line = line;
  p.type = type;
  p.rrclass = rrclass;
  p.nameCount = nameCount;
  p.namePos[0] = namePos[0];
  p.namePos[1] = namePos[1];
  p.file = indexOfFile(file);
  recs_.push_back(p);
  return true;
}

void ParsedRecords::append(ParsedRecords&& more, std::uint32_t lineOffset) {
  if (!more.ok_ || bytes_.size() + more.bytes_.size() > std::numeric_limits<std::uint32_t>::max()) {
    ok_ = false;
    return;
  }
  const auto base = static_cast<std::uint32_t>(bytes_.size());
  bytes_.append(more.bytes_.data(), more.bytes_.size());
  more.bytes_ = MappedArray<char>();
  // more's file indexes, as this one's.
  auto& names = files_.names_;
  const auto& moreNames = more.files_.names_;
  std::vector<std::uint16_t> fileMap(moreNames.size() + 1, 0);
  for (std::size_t f = 0; f < moreNames.size(); ++f) {
    const auto it = std::find(names.begin(), names.end(), moreNames[f]);
    if (it != names.end()) {
      fileMap[f + 1] = static_cast<std::uint16_t>(it - names.begin() + 1);
    } else if (names.size() + 1 >= kManyFilesIndex) {
      fileMap[f + 1] = kManyFilesIndex;
    } else {
      names.push_back(moreNames[f]);
      fileMap[f + 1] = static_cast<std::uint16_t>(names.size());
    }
  }
  recs_.reserve(recs_.size() + more.recs_.size());
  for (Packed p : more.recs_) {
    p.ownerOff += base;
    p.rdataOff += base;
    p.line += lineOffset;
    p.file = p.file == kManyFilesIndex ? kManyFilesIndex : fileMap[p.file];
    recs_.push_back(p);
  }
  more.recs_ = MappedArray<Packed>();
}

void ParsedRecords::reserve(std::size_t records, std::size_t bytes) {
  recs_.reserve(records);
  bytes_.reserve(bytes);
}

void ParsedRecords::erase(const std::vector<std::size_t>& sorted) {
  std::size_t to = 0, next = 0;
  for (std::size_t i = 0; i < recs_.size(); ++i) {
    if (next < sorted.size() && sorted[next] == i) {
      ++next;
      continue;
    }
    recs_[to++] = recs_[i];
  }
  recs_.resize_down(to);
}

void ParsedRecords::sortByOwner() {
  const char* bytes = bytes_.data();
  // The RDATA offset grows with every record added (append keeps that): the
  // order added, for records of one owner.
  std::sort(recs_.begin(), recs_.end(), [bytes](const Packed& x, const Packed& y) {
    const int c = std::string_view(bytes + x.ownerOff, x.ownerLen)
                      .compare(std::string_view(bytes + y.ownerOff, y.ownerLen));
    if (c != 0) return c < 0;
    if (x.rdataOff != y.rdataOff) return x.rdataOff < y.rdataOff;
    return x.type != y.type ? x.type < y.type : x.line < y.line;  // records with no RDATA
  });
}

ParsedRR ParsedRecords::at(std::size_t i) const {
  const Ref r = (*this)[i];
  ParsedRR rr;
  rr.owner.assign(r.owner);
  rr.type = r.type;
  rr.rrclass = r.rrclass;
  rr.ttl = r.ttl;
  rr.rdata.assign(r.rdata);
  rr.nameCount = r.nameCount;
  rr.namePos[0] = r.namePos[0];
  rr.namePos[1] = r.namePos[1];
  rr.file = r.file;
  rr.line = r.line;
  return rr;
}

std::vector<ParsedRR> ParsedRecords::toVector() const {
  std::vector<ParsedRR> out;
  out.reserve(recs_.size());
  for (std::size_t i = 0; i < recs_.size(); ++i) out.push_back(at(i));
  return out;
}

}  // namespace geodns::zones
