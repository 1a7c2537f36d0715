#include "zones/zone.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <string_view>
#include <unordered_map>

#include "core/huge_pages.h"
#include "core/wire/dns.h"
#include "core/wire/types.h"
#include "zones/signing.h"

namespace geodns::zones {

// Not constinit: clang with libstdc++ 12 has no constant initializer for the
// std::string and std::vector members (the fuzz preset failed to build). No
// static initializer reads it: zones are built after main() starts.
const RRsetExtra RRset::kNone{};

// ---- NameIndex -------------------------------------------------------------

std::uint64_t NameIndex::hash(name::Span name) noexcept {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (std::uint8_t b : name) {
    h ^= b;
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

void NameIndex::build(const std::string_view* first, std::size_t count, std::size_t stride) {
  first_ = reinterpret_cast<const char*>(first);
  stride_ = stride;
  std::size_t cap = 8;
  while (cap < count * 2) cap <<= 1;
  slots_.assign(cap, -1);
  mask_ = cap - 1;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t s = hash(name::asSpan(at(i))) & mask_;
    while (slots_[s] >= 0) s = (s + 1) & mask_;
    slots_[s] = static_cast<std::int32_t>(i);
  }
}

std::int32_t NameIndex::find(name::Span name) const noexcept {
  if (slots_.empty()) return -1;
  std::uint64_t s = hash(name) & mask_;
  for (;;) {
    std::int32_t id = slots_[s];
    if (id < 0) return -1;
    const std::string_view n = at(static_cast<std::size_t>(id));
    if (n.size() == name.size() && std::memcmp(n.data(), name.data(), name.size()) == 0) return id;
    s = (s + 1) & mask_;
  }
}

// ---- Zone ------------------------------------------------------------------

namespace {

bool sameData(const RRset& set, std::string_view rdata) {
  for (const auto& d : set.rrs)
    if (d.length == rdata.size() &&
        std::memcmp(set.bytes.data() + d.offset, rdata.data(), d.length) == 0)
      return true;
  return false;
}

std::uint32_t readU32(const std::string& b, std::size_t at) {
  return (std::uint32_t{static_cast<std::uint8_t>(b[at])} << 24) |
         (std::uint32_t{static_cast<std::uint8_t>(b[at + 1])} << 16) |
         (std::uint32_t{static_cast<std::uint8_t>(b[at + 2])} << 8) |
         std::uint32_t{static_cast<std::uint8_t>(b[at + 3])};
}

// Offset of the target name inside an RDATA for types that point at a host.
int targetNameOffset(std::uint16_t type) {
  switch (static_cast<dns::Type>(type)) {
    case dns::Type::NS:
      return 0;
    case dns::Type::MX:
      return 2;
    case dns::Type::SRV:
      return 6;
    default:
      return -1;
  }
}

}  // namespace

std::unique_ptr<Zone> Zone::compile(const std::string& originText, std::vector<ParsedRR> rrs,
                                    ErrorList& errors, const std::vector<BoundName>& bound) {
  ParsedRecords packed(rrs);
  std::vector<ParsedRR>().swap(rrs);
  return compile(originText, std::move(packed), errors, bound);
}

std::unique_ptr<Zone> Zone::compile(const std::string& originText, ParsedRecords rrs,
                                    ErrorList& errors, const std::vector<BoundName>& bound) {
  auto z = std::make_unique<Zone>();
  auto origin = name::fromText(originText);
  if (!origin) {
    errors.add("", "bad zone origin '" + originText + "'");
    return nullptr;
  }
  z->origin_ = *origin;
  z->originLabels_ = name::labelCount(name::asSpan(z->origin_));
  const std::size_t errorsBefore = errors.size();
  const std::string zoneText = name::toText(name::asSpan(z->origin_));

  // Records outside the zone or of another class are reported (in the
  // file's order) and dropped; the compile goes on so that every problem is
  // reported at once.
  {
    std::vector<std::size_t> bad;
    for (std::size_t i = 0; i < rrs.size(); ++i) {
      const ParsedRecords::Ref rr = rrs[i];
      if (!name::isSubdomain(name::asSpan(rr.owner), name::asSpan(z->origin_))) {
        errors.add(rr.where(),
                   name::toText(name::asSpan(rr.owner)) + " is outside zone " + zoneText);
        bad.push_back(i);
      } else if (rr.rrclass != dns::kClassIN) {
        errors.add(rr.where(),
                   "only class IN is served (got class " + std::to_string(rr.rrclass) + ")");
        bad.push_back(i);
      }
    }
    if (!bad.empty()) rrs.erase(bad);
  }

  // The names that only have to exist: the apex, every ancestor of an owner
  // down to the apex (empty non-terminals must exist as nodes) and every
  // bound name; views into `rrs`, `bound` and the origin, sorted, each once.
  std::vector<std::string_view> extra{z->origin_};
  std::string_view lastParent;  // the deepest ancestor added last
  auto addAncestors = [&](std::string_view owner) {
    name::Span p = name::asSpan(owner);
    bool first = true;
    while (p.size() > z->origin_.size()) {
      p = name::parent(p);
      if (p.size() <= z->origin_.size()) break;  // the apex is there already
      const std::string_view v = name::asView(p);
      if (v == lastParent) break;  // it and its ancestors are in (the owner before's siblings)
      extra.push_back(v);
      if (first) lastParent = v;
      first = false;
    }
  };
  for (std::size_t i = 0; i < rrs.size(); ++i) addAncestors(rrs.owner(i));
  for (const auto& b : bound) {
    extra.push_back(b.name);
    addAncestors(b.name);
  }
  std::sort(extra.begin(), extra.end());
  extra.erase(std::unique(extra.begin(), extra.end()), extra.end());

  // The records in the order of their owners, each owner's in the file's
  // order (so that an RRset keeps it), in place: no array of entries beside
  // them. The nodes are made walking the records and `extra` together, and
  // the records behind the walk go back to the kernel as it goes (issue 12
  // item 4: a reload holds all this beside the zone it replaces).
  rrs.sortByOwner();
  const std::size_t n = rrs.size();
  if (n > UINT32_MAX) {
    errors.add("", "zone " + zoneText + " has more than 2^32 records");
    return nullptr;
  }

  // Nodes, the bytes of their names and their RRsets (distinct types at an
  // owner), counted first so that each has one array of the right size, and
  // the RRsets never move once the nodes point at them. walk(f) calls
  // f(owner, from, to) for each distinct owner in order, with the records
  // [from, to) it has (none for a name only in `extra`).
  auto walk = [&](auto&& f) {
    std::size_t r = 0, x = 0;
    while (r < n || x < extra.size()) {
      std::string_view owner;
      if (x == extra.size() || (r < n && rrs.owner(r) < extra[x]))
        owner = rrs.owner(r);
      else
        owner = extra[x];
      std::size_t to = r;
      while (to < n && rrs.owner(to) == owner) ++to;
      if (x < extra.size() && extra[x] == owner) ++x;
      f(owner, r, to);
      r = to;
    }
  };
  std::size_t groups = 0, nameBytes = 0, rrsets = 0;
  std::vector<std::uint16_t> types;  // the distinct types at one owner
  walk([&](std::string_view owner, std::size_t from, std::size_t to) {
    ++groups;
    nameBytes += owner.size();
    types.clear();
    for (std::size_t i = from; i < to; ++i)
      if (std::find(types.begin(), types.end(), rrs.type(i)) == types.end())
        types.push_back(rrs.type(i));
    rrsets += types.size();
  });
  // The big arrays of a big zone are filled once, front to back: on huge
  // pages that is a page fault per 2 MiB instead of per 4 KiB (core/huge_pages.h;
  // a quarter of a 1M-record load's cycles were page faults).
  reserveHuge(z->rrsets_, rrsets);
  z->names_ = std::make_unique_for_overwrite<char[]>(nameBytes);
  adviseHugePages(z->names_.get(), nameBytes);
  char* nameAt = z->names_.get();  // the next free byte of z->names_
  reserveHuge(z->nodes_, groups);

  // What the checks below need of the records, for the file and line of an
  // error, once the records are gone: 8 bytes a record, node by node
  // (node i's are wheres[firstWhere[i], firstWhere[i + 1])).
  struct Where {
    std::uint32_t line = 0;
    std::uint16_t type = 0;
    std::uint16_t file = 0;  // ParsedRecords::fileIndex
  };
  static_assert(sizeof(Where) == 8);
  std::vector<Where> wheres;
  std::vector<std::uint32_t> firstWhere;
  reserveHuge(wheres, n);
  reserveHuge(firstWhere, groups + 1);

  auto addNode = [&](std::string_view owner, std::size_t from, std::size_t to) {
    Node node;
    std::memcpy(nameAt, owner.data(), owner.size());
    node.name = std::string_view(nameAt, owner.size());
    nameAt += owner.size();
    firstWhere.push_back(static_cast<std::uint32_t>(wheres.size()));
    // This node's RRsets are made at the end of z->rrsets_, reserved for all.
    std::vector<RRset>& sets = z->rrsets_;
    const std::size_t first = sets.size();
    for (std::size_t e = from; e < to; ++e) {
      const ParsedRecords::Ref rr = rrs[e];
      wheres.push_back({rr.line, rr.type, rrs.fileIndex(e)});
      auto it = std::find_if(sets.begin() + static_cast<std::ptrdiff_t>(first), sets.end(),
                             [&](const RRset& st) { return st.type == rr.type; });
      if (it == sets.end()) {
        assert(sets.size() < sets.capacity());  // counted above: the nodes' spans stay valid
        sets.emplace_back(rr.type, rr.ttl);
        it = sets.end() - 1;
      }
      if (sameData(*it, rr.rdata)) continue;  // RFC 2181 s5: an RRset has no duplicates
      if (rr.rdata.size() > 65535) {
        errors.add(rr.where(), "RDATA longer than 65535 bytes");
        continue;
      }
      it->ttl = std::min(it->ttl, rr.ttl);  // RFC 2181 s5.2: one TTL per RRset
      Rdata d;
      d.offset = static_cast<std::uint32_t>(it->bytes.size());
      d.length = static_cast<std::uint16_t>(rr.rdata.size());
      d.nameCount = rr.nameCount;
      d.namePos[0] = rr.namePos[0];
      d.namePos[1] = rr.namePos[1];
      it->bytes += rr.rdata;
      it->rrs.push_back(d);
      ++z->records_;
    }
    std::sort(sets.begin() + static_cast<std::ptrdiff_t>(first), sets.end(),
              [](const RRset& x, const RRset& y) { return x.type < y.type; });
    node.rrsets = std::span<const RRset>(sets.data() + first, sets.size() - first);
    z->nodes_.push_back(std::move(node));
  };
  // The apex first (nodes_[0]), then every other owner in order.
  {
    std::size_t from = 0;
    const std::string_view apex = z->origin_;
    for (std::size_t lo = 0, hi = n; lo < hi;) {  // the first record at or after the apex
      const std::size_t mid = lo + (hi - lo) / 2;
      if (rrs.owner(mid) < apex) {
        lo = from = mid + 1;
      } else {
        hi = mid;
      }
    }
    std::size_t to = from;
    while (to < n && rrs.owner(to) == apex) ++to;
    addNode(apex, from, to);
  }
  walk([&](std::string_view owner, std::size_t from, std::size_t to) {
    if (owner != std::string_view(z->origin_)) addNode(owner, from, to);
    rrs.releaseFront(to);
  });
  firstWhere.push_back(static_cast<std::uint32_t>(wheres.size()));
  const ParsedRecords::Files files = rrs.files();
  rrs = ParsedRecords{};
  std::vector<std::string_view>().swap(extra);  // (views into the records)

  z->index_.build(&z->nodes_.data()->name, z->nodes_.size(), sizeof(Node));

  // First line where a type appears at a node, for error messages (as
  // ParsedRR::where).
  auto whereOf = [&](const Node& node, std::uint16_t type) -> std::string {
    const auto i = static_cast<std::size_t>(&node - z->nodes_.data());
    for (std::uint32_t e = firstWhere[i]; e < firstWhere[i + 1]; ++e) {
      const Where& w = wheres[e];
      if (type != 0 && w.type != type) continue;
      return fileLine(files[w.file], w.line);
    }
    return "";
  };
  const auto tSOA = dns::toU16(dns::Type::SOA), tNS = dns::toU16(dns::Type::NS),
             tCNAME = dns::toU16(dns::Type::CNAME), tA = dns::toU16(dns::Type::A),
             tAAAA = dns::toU16(dns::Type::AAAA), tDS = dns::toU16(dns::Type::DS),
             tRRSIG = dns::toU16(dns::Type::RRSIG), tNSEC = dns::toU16(dns::Type::NSEC);

  Node& apex = z->nodes_[0];
  const RRset* soa = apex.find(tSOA);
  if (!soa) {
    errors.add("", "zone " + zoneText + " has no SOA record at its apex");
  } else if (soa->rrs.size() != 1) {
    errors.add(whereOf(z->nodes_[0], tSOA), "zone " + zoneText + " has more than one SOA record");
  } else if (soa->bytes.size() < 22) {
    errors.add(whereOf(z->nodes_[0], tSOA), "malformed SOA record");
  } else {
    z->soa_ = soa;
    z->serial_ = readU32(soa->bytes, soa->bytes.size() - 20);
    z->negativeTtl_ = std::min(soa->ttl, readU32(soa->bytes, soa->bytes.size() - 4));
  }
  if (!apex.find(tNS)) errors.add("", "zone " + zoneText + " has no NS records at its apex");

  for (auto& node : z->nodes_) {
    bool isApex = &node == &z->nodes_[0];
    if (!isApex) {
      if (node.find(tSOA)) errors.add(whereOf(node, tSOA), "SOA record outside the zone apex");
      node.delegation = node.find(tNS) != nullptr;
      for (name::Span p = name::parent(name::asSpan(node.name)); p.size() > z->origin_.size();
           p = name::parent(p)) {
        const Node* anc = z->find(p);
        if (anc && anc->find(tNS)) node.occluded = true;
      }
    }
    if (const RRset* cn = node.find(tCNAME)) {
      if (cn->rrs.size() > 1)
        errors.add(whereOf(node, tCNAME),
                   "more than one CNAME record at " + name::toText(name::asSpan(node.name)));
      for (const auto& s : node.rrsets)
        if (s.type != tCNAME && s.type != tRRSIG && s.type != tNSEC) {
          errors.add(whereOf(node, tCNAME),
                     "CNAME beside other data at " + name::toText(name::asSpan(node.name)));
          break;
        }
    }
  }
  for (auto& node : z->nodes_) {
    for (const auto& s : node.rrsets) {
      bool glue = s.type == tA || s.type == tAAAA;
      if (node.occluded && !glue) {
        errors.add(whereOf(node, s.type),
                   "data below the delegation is occluded (only A/AAAA glue is allowed) at " +
                       name::toText(name::asSpan(node.name)));
      } else if (node.delegation && !glue && s.type != tNS && s.type != tDS && s.type != tRRSIG &&
                 s.type != tNSEC) {
        errors.add(whereOf(node, s.type), "only NS, DS and glue may stand at the delegation " +
                                              name::toText(name::asSpan(node.name)));
      }
    }
  }
  for (const auto& b : bound) {
    Node* node = const_cast<Node*>(z->find(name::asSpan(b.name)));
    if (!node) continue;
    node->binding = b.id;
    const std::string nameText = name::toText(name::asSpan(b.name));
    if (node->occluded || node->delegation)
      errors.add(b.where, nameText + " is at or below a delegation and cannot be bound to a pool");
    for (std::uint16_t t : {tA, tAAAA, tCNAME})
      if (node->find(t))
        errors.add(b.where, nameText + " is bound to a pool, but the zone file also has " +
                                (t == tA      ? "A"
                                 : t == tAAAA ? "AAAA"
                                              : "CNAME") +
                                " records there (" + whereOf(*node, t) + ")");
  }
  if (errors.size() != errorsBefore) return nullptr;

  // Precompute CNAME targets and additional-section references.
  for (auto& node : z->nodes_) {
    for (auto& set : writable(node)) {
      if (set.type == tCNAME && !set.rrs.empty()) {
        set.extra().target = set.bytes.substr(set.rrs[0].offset, set.rrs[0].length);
        continue;
      }
      int at = targetNameOffset(set.type);
      if (at < 0) continue;
      for (const auto& d : set.rrs) {
        if (d.length <= at) continue;
        std::string target = set.bytes.substr(d.offset + static_cast<std::uint32_t>(at),
                                              d.length - static_cast<std::uint16_t>(at));
        name::toLower(reinterpret_cast<std::uint8_t*>(target.data()), target.size());
        const Node* t = z->find(name::asSpan(target));
        if (!t || (t->occluded && !node.delegation && !(&node == &z->nodes_[0]))) continue;
        for (std::uint16_t i = 0; i < t->rrsets.size(); ++i) {
          std::uint16_t tt = t->rrsets[i].type;
          if (tt != tA && tt != tAAAA) continue;
          const auto& have = set.additional();
          bool dup = std::any_of(have.begin(), have.end(), [&](const AdditionalRef& r) {
            return r.node == t && r.rrsetIndex == i;
          });
          if (!dup) set.extra().additional.push_back({t, i});
        }
      }
    }
  }
  return z;
}

bool Zone::sign(std::shared_ptr<const ZoneSigning> signing, ErrorList& errors) {
  using dns::toU16;
  const std::size_t before = errors.size();
  std::int64_t earliest = INT64_MAX;
  std::vector<std::uint8_t> sig;
  std::vector<std::span<const std::uint8_t>> rdatas;
  for (auto& node : nodes_) {
    if (node.occluded) continue;  // glue: not authoritative, not signed
    const bool isApex = &node == &nodes_[0];
    const bool wildcard = node.name.size() >= 2 && node.name[0] == 1 && node.name[1] == '*';
    for (auto& set : writable(node)) {
      if (set.hasExtra()) set.extra().sigs = SigSet{};
      // A wildcard's RRsets are signed online at the name they answer for,
      // so that the answer needs no proof of the name's non-existence.
      set.wildcard = wildcard;
      if (wildcard) continue;
      if (node.delegation && set.type != toU16(dns::Type::DS)) continue;  // RFC 4035 s2.2
      rdatas.clear();
      const auto* base = reinterpret_cast<const std::uint8_t*>(set.bytes.data());
      for (const auto& rd : set.rrs) rdatas.emplace_back(base + rd.offset, rd.length);
      dnssec::RRsetView view;
      view.owner = name::asSpan(node.name);
      view.type = set.type;
      view.ttl = set.ttl;
      view.rdatas = rdatas;
      const bool keySet =
          isApex && (set.type == toU16(dns::Type::DNSKEY) || set.type == toU16(dns::Type::CDS) ||
                     set.type == toU16(dns::Type::CDNSKEY));
      auto signWith = [&](const dnssec::Signer& signer) {
        const dnssec::SigningWindow window = signer.window();
        const dnssec::SignStatus st = signer.signWith(view, window, sig);
        if (st != dnssec::SignStatus::Ok) {
          errors.add("", "signing " + name::toText(view.owner) + " " + dns::typeToText(set.type) +
                             ": " + dnssec::signStatusText(st));
          return;
        }
        Rdata d;
        SigSet& sigs = set.extra().sigs;
        sigs.ttl = set.ttl;
        d.offset = static_cast<std::uint32_t>(sigs.bytes.size());
        d.length = static_cast<std::uint16_t>(sig.size());
        sigs.bytes.append(reinterpret_cast<const char*>(sig.data()), sig.size());
        sigs.rrs.push_back(d);
        earliest = std::min(earliest, window.refreshAt);
      };
      if (keySet)
        for (const auto& s : signing->keySigners()) signWith(*s);
      else
        for (const auto& o : signing->online()) signWith(*o.signer);
    }
  }
  signing_ = std::move(signing);
  refreshAt_ = earliest;
  return errors.size() == before;
}

// ---- ZoneSet ---------------------------------------------------------------

void ZoneSet::add(std::unique_ptr<Zone> zone) {
  origins_.push_back(zone->origin());
  zones_.push_back(std::move(zone));
}

std::int64_t ZoneSet::refreshAt() const noexcept {
  std::int64_t at = INT64_MAX;
  for (const auto& z : zones_)
    if (z->signing()) at = std::min(at, z->refreshAt());
  return at;
}

void ZoneSet::finish() {
  index_.build(origins_);
  longestFirst_.resize(origins_.size());
  for (std::size_t i = 0; i < origins_.size(); ++i)
    longestFirst_[i] = static_cast<std::uint32_t>(i);
  std::stable_sort(
      longestFirst_.begin(), longestFirst_.end(),
      [&](std::uint32_t a, std::uint32_t b) { return origins_[a].size() > origins_[b].size(); });
}

const Zone* ZoneSet::findZone(name::Span qname) const noexcept {
  // Two origins of one length cannot both hold the name, so with the longest
  // first the first that holds it is the longest match.
  if (zones_.size() <= kScanZones) {
    for (const std::uint32_t i : longestFirst_)
      if (name::isSubdomain(qname, name::asSpan(origins_[i]))) return zones_[i].get();
    return nullptr;
  }
  for (name::Span s = qname;; s = name::parent(s)) {
    std::int32_t id = index_.find(s);
    if (id >= 0) return zones_[static_cast<std::size_t>(id)].get();
    if (s.size() <= 1) return nullptr;
  }
}

void ZoneSet::addUnavailable(std::string origin) {
  unavailable_.push_back(std::move(origin));
}

bool ZoneSet::unavailableFor(name::Span qname, const Zone* found) const noexcept {
  const std::size_t deeperThan = found ? found->origin().size() : 0;
  for (const auto& o : unavailable_)
    if (o.size() > deeperThan && name::isSubdomain(qname, name::asSpan(o))) return true;
  return false;
}

const Zone* ZoneSet::findParent(const Zone& zone) const noexcept {
  name::Span o = name::asSpan(zone.origin());
  if (o.size() <= 1) return nullptr;
  return findZone(name::parent(o));
}

}  // namespace geodns::zones
