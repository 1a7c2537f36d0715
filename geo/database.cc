#include "geo/database.h"

#include <maxminddb.h>

#include <sys/mman.h>

#include <cstring>
#include <sstream>

#include "geo/continents.h"

namespace geodns::geo {

FieldPaths FieldPaths::preset(Layout layout) {
  switch (layout) {
    case Layout::GeoIP2:
      return {"continent.code",    "country.iso_code",   "subdivisions.0.iso_code",
              "location.latitude", "location.longitude", ""};
    case Layout::Flat:
      // state1 holds a region *name* in DB-IP data, not an ISO code: not read by default.
      return {"", "country_code", "", "latitude", "longitude", ""};
    case Layout::Asn:
      return {"", "", "", "", "", "autonomous_system_number"};
    case Layout::Auto:
      break;
  }
  return {};
}

const char* layoutName(Layout l) noexcept {
  switch (l) {
    case Layout::GeoIP2:
      return "geoip2";
    case Layout::Flat:
      return "flat";
    case Layout::Asn:
      return "asn";
    case Layout::Auto:
      return "auto";
  }
  return "?";
}

namespace {

// A field path split for MMDB_aget_value (NULL-terminated array of C strings).
struct Path {
  std::vector<std::string> parts;
  std::vector<const char*> ptrs;
  bool empty() const { return parts.empty(); }
  void set(const std::string& dotted) {
    parts.clear();
    ptrs.clear();
    if (dotted.empty()) return;
    std::stringstream ss(dotted);
    std::string p;
    while (std::getline(ss, p, '.')) parts.push_back(p);
    for (auto& s : parts) ptrs.push_back(s.c_str());
    ptrs.push_back(nullptr);
  }
};

bool readString(MMDB_entry_s* entry, const Path& path, char* out, std::size_t cap) noexcept {
  if (path.empty()) return false;
  MMDB_entry_data_s d;
  if (MMDB_aget_value(entry, &d, path.ptrs.data()) != MMDB_SUCCESS || !d.has_data ||
      d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size == 0 || d.data_size >= cap)
    return false;
  std::memcpy(out, d.utf8_string, d.data_size);
  out[d.data_size] = 0;
  return true;
}

bool readNumber(MMDB_entry_s* entry, const Path& path, double& out) noexcept {
  if (path.empty()) return false;
  MMDB_entry_data_s d;
  if (MMDB_aget_value(entry, &d, path.ptrs.data()) != MMDB_SUCCESS || !d.has_data) return false;
  switch (d.type) {
    case MMDB_DATA_TYPE_DOUBLE:
      out = d.double_value;
      return true;
    case MMDB_DATA_TYPE_FLOAT:
      out = static_cast<double>(d.float_value);
      return true;
    case MMDB_DATA_TYPE_UINT16:
      out = d.uint16;
      return true;
    case MMDB_DATA_TYPE_UINT32:
      out = d.uint32;
      return true;
    case MMDB_DATA_TYPE_INT32:
      out = d.int32;
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Database::Impl {
  MMDB_s mmdb{};
  bool opened = false;
  Path continent, country, subdivision, latitude, longitude, asn;
  ~Impl() {
    if (opened) MMDB_close(&mmdb);
  }
  void decode(MMDB_entry_s* entry, Location& loc, RecordFields fields) const noexcept;
};

void Database::Impl::decode(MMDB_entry_s* entry, Location& loc,
                            RecordFields fields) const noexcept {
  // Fields are optional: a record may hold only some (continent-only, no
  // location); every read is checked.
  readString(entry, continent, loc.continent, sizeof loc.continent);
  readString(entry, country, loc.country, sizeof loc.country);
  char sub[8] = {};
  if (loc.country[0] && readString(entry, subdivision, sub, sizeof sub)) {
    // Store as ISO 3166-2 with the country ("US-CA").
    std::memcpy(loc.subdivision, loc.country, 2);
    loc.subdivision[2] = '-';
    std::memcpy(loc.subdivision + 3, sub, std::strlen(sub) + 1);
  }
  if (!loc.continent[0] && loc.country[0]) {
    if (const char* c = continentOf(loc.country)) std::memcpy(loc.continent, c, 3);
  }
  if (fields == RecordFields::Class) return;
  double lat = 0, lon = 0;
  if (readNumber(entry, latitude, lat) && readNumber(entry, longitude, lon) && lat >= -90 &&
      lat <= 90 && lon >= -180 && lon <= 180) {
    loc.hasCoords = true;
    loc.lat = lat;
    loc.lon = lon;
  }
  if (fields != RecordFields::All) return;
  double a = 0;
  if (readNumber(entry, asn, a) && a > 0 && a < 4294967296.0)
    loc.asn = static_cast<std::uint32_t>(a);
}

Database::~Database() = default;

std::unique_ptr<Database> Database::open(const DatabaseSpec& spec, std::string* err) {
  std::unique_ptr<Database> db(new Database());
  db->impl_ = std::make_unique<Impl>();
  db->file_ = spec.file;
  int rc = MMDB_open(spec.file.c_str(), MMDB_MODE_MMAP, &db->impl_->mmdb);
  if (rc != MMDB_SUCCESS) {
    *err = spec.file + ": cannot open geo database: " + MMDB_strerror(rc) +
           (rc == MMDB_IO_ERROR ? std::string(" (") + std::strerror(errno) + ")" : "");
    return nullptr;
  }
  db->impl_->opened = true;
  const MMDB_s& mmdb = db->impl_->mmdb;
  const auto& meta = mmdb.metadata;
  // libmaxminddb checked that the tree and its separator fit in the file.
  const std::uint64_t treeBytes = std::uint64_t{meta.node_count} * meta.record_size / 4;
  if (meta.node_count == 0 || meta.node_count >= kWalkLeaf ||
      mmdb.data_section_size >= (kWalkEmpty & ~kWalkLeaf) ||
      (meta.record_size != 24 && meta.record_size != 28 && meta.record_size != 32) ||
      mmdb.file_size < 0 || treeBytes + 16 > static_cast<std::uint64_t>(mmdb.file_size)) {
    *err = spec.file + ": cannot load geo database: unsupported size or record size";
    return nullptr;
  }
  db->tree_.base = mmdb.file_content;
  db->tree_.nodes = meta.node_count;
  db->tree_.dataSize = mmdb.data_section_size;
  db->tree_.nodeBytes = static_cast<std::uint8_t>(meta.record_size / 4);
  db->type_ = meta.database_type ? meta.database_type : "";
  db->ipVersion_ = meta.ip_version;
  Layout layout = spec.layout;
  if (layout == Layout::Auto) {
    // GeoIP2-style files (MaxMind, DB-IP's own mmdb) name themselves; the flat
    // ip-location-db files do not.
    const std::string& t = db->type_;
    if (t.find("ASN") != std::string::npos)
      layout = Layout::Asn;
    else if (t.rfind("GeoIP2", 0) == 0 || t.rfind("GeoLite2", 0) == 0 || t.rfind("DBIP-", 0) == 0 ||
             t.rfind("GeoDNS", 0) == 0)
      layout = Layout::GeoIP2;
    else
      layout = Layout::Flat;
  }
  db->layout_ = layout;
  FieldPaths f = FieldPaths::preset(layout);
  const FieldPaths& o = spec.overrides;
  auto pick = [](std::string& dst, const std::string& src) {
    if (!src.empty()) dst = src;
  };
  pick(f.continent, o.continent);
  pick(f.country, o.country);
  pick(f.subdivision, o.subdivision);
  pick(f.latitude, o.latitude);
  pick(f.longitude, o.longitude);
  pick(f.asn, o.asn);
  db->fields_ = f;
  db->impl_->continent.set(f.continent);
  db->impl_->country.set(f.country);
  db->impl_->subdivision.set(f.subdivision);
  db->impl_->latitude.set(f.latitude);
  db->impl_->longitude.set(f.longitude);
  db->impl_->asn.set(f.asn);
  // IPv4 addresses in an IPv6 tree live under ::/96.
  std::uint32_t v = 0;
  if (meta.ip_version == 6)
    for (int b = 0; b < 96 && v < kWalkLeaf; ++b) v = db->tree_.child(v, 0);
  db->v4Start_ = v;
  return db;  // the mapping stays open
}

std::uint32_t Database::walkRoot(int family) const noexcept {
  if (family == 6 && ipVersion_ == 4) return kWalkEmpty;
  return family == 4 ? v4Start_ : 0;
}

Location Database::walkRecord(std::uint32_t value, RecordFields fields) const noexcept {
  Location loc;
  MMDB_entry_s entry{&impl_->mmdb, value & ~kWalkLeaf};
  impl_->decode(&entry, loc, fields);
  return loc;
}

void Database::releasePages() const noexcept {
  const MMDB_s& m = impl_->mmdb;
  if (m.file_content && m.file_size > 0)
    ::madvise(const_cast<std::uint8_t*>(m.file_content), static_cast<std::size_t>(m.file_size),
              MADV_DONTNEED);
}

Database::Result Database::lookup(const IpAddress& ip, Location& loc) const noexcept {
  if (ip.family == 6 && ipVersion_ == 4) return Result::WrongFamily;
  std::uint32_t v = ip.family == 4 ? v4Start_ : 0;
  unsigned depth = 0;
  const unsigned bits = ip.bits();
  while (v < kWalkLeaf && depth < bits) v = tree_.child(v, ip.bit(depth++));
  const std::uint8_t prefix = static_cast<std::uint8_t>(depth);
  loc.prefix = prefix;
  if (v == kWalkEmpty || v < kWalkLeaf) return Result::NotFound;
  loc = walkRecord(v);
  loc.prefix = prefix;
  return Result::Found;
}

}  // namespace geodns::geo
