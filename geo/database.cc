#include "geo/database.h"

#include <maxminddb.h>

#include <cstring>
#include <sstream>
#include <unordered_map>

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

// The database compiled at load (as gdnsd does): libmaxminddb's search tree
// copied node for node (aliases stay shared), each data record decoded once
// into a Location. A lookup is then a walk over two uint32 per bit, with no
// decoding: measured at ~0.8 us/query for libmaxminddb lookup + field reads,
// 15% of the server's CPU under dnsperf (bench/RESULTS.md).
struct Database::Impl {
  MMDB_s mmdb{};
  bool opened = false;
  Path continent, country, subdivision, latitude, longitude, asn;
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  static constexpr std::uint32_t kLeaf = 0x80000000u;
  std::vector<std::uint32_t> tree;  // 2 per node: left, right
  std::vector<Location> records;
  std::uint32_t v4Start = 0;  // value to start IPv4 lookups from
  // DatabaseSpec::onDemand: `tree` and `records` stay empty; nodes are read
  // from the mapping and records decoded when first walked to (by offset).
  bool onDemand = false;
  mutable std::unordered_map<std::uint32_t, Location> decoded;
  ~Impl() {
    if (opened) MMDB_close(&mmdb);
  }
  void decode(MMDB_entry_s* entry, Location& loc) const noexcept;
  bool compile(std::string* err);
  // On demand: a node's child as a walk value (a node that cannot be read,
  // or points outside the tree, reads as empty).
  std::uint32_t readChild(std::uint32_t node, int bit) const noexcept;
  std::uint32_t startV4() const noexcept;
};

std::uint32_t Database::Impl::readChild(std::uint32_t node, int bit) const noexcept {
  MMDB_search_node_s n;
  if (MMDB_read_node(&mmdb, node, &n) != MMDB_SUCCESS) return kEmpty;
  const std::uint64_t value = bit ? n.right_record : n.left_record;
  switch (bit ? n.right_record_type : n.left_record_type) {
    case MMDB_RECORD_TYPE_SEARCH_NODE:
      return value < mmdb.metadata.node_count ? static_cast<std::uint32_t>(value) : kEmpty;
    case MMDB_RECORD_TYPE_DATA: {
      const std::uint32_t offset = bit ? n.right_record_entry.offset : n.left_record_entry.offset;
      return offset < (kEmpty & ~kLeaf) ? kLeaf | offset : kEmpty;  // open() checked the size
    }
    default:
      return kEmpty;
  }
}

// IPv4 addresses in an IPv6 tree live under ::/96.
std::uint32_t Database::Impl::startV4() const noexcept {
  std::uint32_t v = 0;
  if (mmdb.metadata.ip_version == 6)
    for (int b = 0; b < 96 && v < kLeaf; ++b)
      v = onDemand ? readChild(v, 0) : tree[std::size_t{v} * 2];
  return v;
}

void Database::Impl::decode(MMDB_entry_s* entry, Location& loc) const noexcept {
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
  double lat = 0, lon = 0;
  if (readNumber(entry, latitude, lat) && readNumber(entry, longitude, lon) && lat >= -90 &&
      lat <= 90 && lon >= -180 && lon <= 180) {
    loc.hasCoords = true;
    loc.lat = lat;
    loc.lon = lon;
  }
  double a = 0;
  if (readNumber(entry, asn, a) && a > 0 && a < 4294967296.0)
    loc.asn = static_cast<std::uint32_t>(a);
}

bool Database::Impl::compile(std::string* err) {
  const std::uint32_t nodes = mmdb.metadata.node_count;
  if (nodes >= kLeaf) {
    *err = "database too large (" + std::to_string(nodes) + " nodes)";
    return false;
  }
  tree.resize(std::size_t{nodes} * 2);
  std::unordered_map<std::uint32_t, std::uint32_t> byOffset;  // data offset -> record index
  for (std::uint32_t i = 0; i < nodes; ++i) {
    MMDB_search_node_s node;
    int rc = MMDB_read_node(&mmdb, i, &node);
    if (rc != MMDB_SUCCESS) {
      *err = std::string("corrupt search tree: ") + MMDB_strerror(rc);
      return false;
    }
    const std::uint64_t values[2] = {node.left_record, node.right_record};
    const std::uint8_t types[2] = {node.left_record_type, node.right_record_type};
    MMDB_entry_s entries[2] = {node.left_record_entry, node.right_record_entry};
    for (int side = 0; side < 2; ++side) {
      std::uint32_t out = kEmpty;
      switch (types[side]) {
        case MMDB_RECORD_TYPE_SEARCH_NODE:
          if (values[side] >= nodes) {
            *err = "corrupt search tree: node " + std::to_string(i) + " points outside the tree";
            return false;
          }
          out = static_cast<std::uint32_t>(values[side]);
          break;
        case MMDB_RECORD_TYPE_EMPTY:
          break;
        case MMDB_RECORD_TYPE_DATA: {
          auto [it, inserted] =
              byOffset.emplace(entries[side].offset, static_cast<std::uint32_t>(records.size()));
          if (inserted) {
            Location loc;
            decode(&entries[side], loc);
            records.push_back(loc);
          }
          out = kLeaf | it->second;
          break;
        }
        default:
          *err = "corrupt search tree: invalid record in node " + std::to_string(i);
          return false;
      }
      tree[std::size_t{i} * 2 + static_cast<std::size_t>(side)] = out;
    }
  }
  v4Start = startV4();
  return true;
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
  const auto& meta = db->impl_->mmdb.metadata;
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
  std::string cerr;
  if (spec.onDemand) {
    Impl& m = *db->impl_;
    m.onDemand = true;
    if (meta.node_count >= kWalkLeaf || m.mmdb.data_section_size >= (kWalkEmpty & ~kWalkLeaf)) {
      *err = spec.file + ": cannot load geo database: too large";
      return nullptr;
    }
    m.v4Start = m.startV4();
    return db;  // the mapping stays open
  }
  if (!db->impl_->compile(&cerr)) {
    *err = spec.file + ": cannot load geo database: " + cerr;
    return nullptr;
  }
  // Everything needed is compiled: release the mapping.
  MMDB_close(&db->impl_->mmdb);
  db->impl_->opened = false;
  return db;
}

std::uint32_t Database::walkRoot(int family) const noexcept {
  if (family == 6 && ipVersion_ == 4) return kWalkEmpty;
  return family == 4 ? impl_->v4Start : 0;
}

std::uint32_t Database::walkChild(std::uint32_t node, int bit) const noexcept {
  if (impl_->onDemand) return impl_->readChild(node, bit);
  return impl_->tree[std::size_t{node} * 2 + static_cast<std::size_t>(bit)];
}

const std::uint32_t* Database::walkTree() const noexcept {
  return impl_->onDemand ? nullptr : impl_->tree.data();
}

const Location& Database::walkRecord(std::uint32_t value) const noexcept {
  const Impl& m = *impl_;
  if (!m.onDemand) return m.records[value & ~Impl::kLeaf];
  auto [it, inserted] = m.decoded.try_emplace(value & ~Impl::kLeaf);
  if (inserted) {
    MMDB_entry_s entry{&m.mmdb, value & ~Impl::kLeaf};
    m.decode(&entry, it->second);
  }
  return it->second;
}

std::size_t Database::walkRecords() const noexcept {
  return impl_->records.size();
}

bool Database::onDemand() const noexcept {
  return impl_->onDemand;
}

Database::Result Database::lookup(const IpAddress& ip, Location& loc) const noexcept {
  if (ip.family == 6 && ipVersion_ == 4) return Result::WrongFamily;
  const Impl& m = *impl_;
  if (m.onDemand) return lookupOnDemand(ip, loc);
  std::uint32_t v = ip.family == 4 ? m.v4Start : 0;
  unsigned depth = 0;
  const unsigned bits = ip.bits();
  while (v < Impl::kLeaf && depth < bits) {
    v = m.tree[std::size_t{v} * 2 + static_cast<std::size_t>(ip.bit(depth))];
    ++depth;
  }
  loc.prefix = static_cast<std::uint8_t>(depth);
  if (v == Impl::kEmpty || v < Impl::kLeaf) return Result::NotFound;
  const std::uint8_t prefix = loc.prefix;
  loc = m.records[v & ~Impl::kLeaf];
  loc.prefix = prefix;
  return Result::Found;
}

// The same walk over the mapped file; the record is decoded here, not
// cached (lookup() stays allocation-free).
Database::Result Database::lookupOnDemand(const IpAddress& ip, Location& loc) const noexcept {
  const Impl& m = *impl_;
  std::uint32_t v = ip.family == 4 ? m.v4Start : 0;
  unsigned depth = 0;
  const unsigned bits = ip.bits();
  while (v < Impl::kLeaf && depth < bits) v = m.readChild(v, ip.bit(depth++));
  const std::uint8_t prefix = static_cast<std::uint8_t>(depth);
  loc.prefix = prefix;
  if (v == Impl::kEmpty || v < Impl::kLeaf) return Result::NotFound;
  loc = Location{};
  MMDB_entry_s entry{&m.mmdb, v & ~Impl::kLeaf};
  m.decode(&entry, loc);
  loc.prefix = prefix;
  return Result::Found;
}

}  // namespace geodns::geo
