#include "server/fast_answers.h"

#include <algorithm>

#include "core/wire/dns.h"
#include "core/wire/query_builder.h"
#include "zones/lookup.h"

namespace geodns::server {

namespace {

using dns::Type;

constexpr std::uint16_t T(Type t) {
  return dns::toU16(t);
}

}  // namespace

class FastAnswersBuilder {
 public:
  FastAnswersBuilder(const ServingSnapshot& snap, FastAnswers& fa) : snap_(snap), fa_(fa) {}

  // Runs the engine on (name, type), no EDNS, over TCP (no size limit, no
  // signing budget: neither matters without DO). Keeps the answer when it
  // depends on nothing but the question: no pool, no truncation. A
  // `template_` is also used below `qname`: `inside` are the names its
  // records hold (their RDATA names, the glue owners).
  std::uint32_t run(name::Span qname, std::uint16_t qtype, Outcome* outcome = nullptr,
                    bool template_ = false, const std::vector<name::Span>& inside = {}) {
    wire::QuerySpec spec;
    spec.qname = qname;
    spec.qtype = qtype;
    std::uint8_t query[dns::kMaxNameWire + 64];
    const std::size_t qlen = wire::buildQuery(spec, query);
    if (qlen == 0) return FastAnswers::kNone;
    out_.resize(dns::kMaxMessage);
    QueryFacts facts;
    Compressor::PointerLog log;
    const std::size_t n = detail::answerLoggingPointers(snap_, {query, qlen}, out_, facts, log);
    const std::size_t start = dns::kHeaderSize + qname.size() + 4;
    if (n < start || log.overflow || facts.gslb || facts.truncated || facts.dnssec ||
        facts.signFailed || facts.signBudget)
      return FastAnswers::kNone;
    switch (facts.outcome) {
      case Outcome::Answer:
      case Outcome::NoData:
      case Outcome::NXDomain:
      case Outcome::Referral:
        break;
      default:
        return FastAnswers::kNone;
    }
    const std::uint16_t flags = static_cast<std::uint16_t>((out_[2] << 8) | out_[3]);
    if ((flags & dns::kFlagTC) != 0 || n - start > 0xFFFF) return FastAnswers::kNone;
    FastAnswers::Blob b;
    b.offset = static_cast<std::uint32_t>(fa_.bytes_.size());
    b.length = static_cast<std::uint16_t>(n - start);
    for (int s = 0; s < 3; ++s)
      b.counts[s] = static_cast<std::uint16_t>((out_[6 + 2 * s] << 8) | out_[7 + 2 * s]);
    b.rcode = static_cast<std::uint8_t>(flags & dns::kRcodeMask);
    b.aa = (flags & dns::kFlagAA) != 0;
    b.outcome = facts.outcome;
    b.ptrOffset = static_cast<std::uint32_t>(fa_.ptrs_.size());
    for (std::size_t i = 0; i < log.n; ++i) {
      if (log.at[i] < start) return FastAnswers::kNone;  // not after the question: cannot be
      fa_.ptrs_.push_back(static_cast<std::uint16_t>(log.at[i] - start));
    }
    b.ptrCount = static_cast<std::uint16_t>(log.n);
    if (template_) {
      // A longer question registers one compression entry per extra label,
      // and moves every offset by at most 255 (still below the 0x4000 that
      // pointers reach).
      const std::size_t labels = name::labelCount(qname);
      const std::size_t used = std::max(log.entries, labels);
      if (n + dns::kMaxNameWire < 0x4000 && used < Compressor::kMaxEntries)
        b.maxExtraLabels =
            static_cast<std::uint8_t>(std::min<std::size_t>(255, Compressor::kMaxEntries - used));
      b.riskyOffset = static_cast<std::uint32_t>(fa_.risky_.size());
      for (name::Span nm : inside) {
        const std::size_t nl = name::labelCount(nm);
        if (nl <= labels || !name::isSubdomain(nm, qname)) continue;
        const name::Span cut = name::parent(nm, nl - labels - 1);
        if (fa_.risky(b, cut.data(), cut.size())) continue;
        fa_.risky_.push_back(
            {static_cast<std::uint32_t>(fa_.names_.size()), static_cast<std::uint8_t>(cut.size())});
        fa_.names_.append(reinterpret_cast<const char*>(cut.data()), cut.size());
        ++b.riskyCount;
      }
    }
    fa_.bytes_.insert(fa_.bytes_.end(), out_.begin() + static_cast<std::ptrdiff_t>(start),
                      out_.begin() + static_cast<std::ptrdiff_t>(n));
    fa_.blobs_.push_back(b);
    if (outcome) *outcome = facts.outcome;
    return static_cast<std::uint32_t>(fa_.blobs_.size() - 1);
  }

  // The names in an RRset's RDATA (those the writer compresses).
  static void rdataNames(const zones::RRset& set, std::vector<name::Span>& out) {
    const auto* base = reinterpret_cast<const std::uint8_t*>(set.bytes.data());
    for (const auto& rd : set.rrs)
      for (std::uint8_t k = 0; k < rd.nameCount; ++k) {
        const std::uint8_t* p = base + rd.offset + rd.namePos[k];
        std::size_t i = 0;
        const std::size_t max = rd.length - rd.namePos[k];
        while (i < max && p[i] != 0) i += std::size_t{1} + p[i];
        if (i < max) out.push_back({p, i + 1});
      }
  }

  void addEntry(FastAnswers::Entry e, name::Span name) {
    e.nameOffset = static_cast<std::uint32_t>(fa_.names_.size());
    e.nameLen = static_cast<std::uint8_t>(name.size());
    e.hash = FastAnswers::hash(name.data(), name.size());
    fa_.names_.append(reinterpret_cast<const char*>(name.data()), name.size());
    fa_.entries_.push_back(e);
  }

  // One zone: its negative template (NODATA at the apex; NXDOMAIN and NODATA
  // elsewhere differ in the rcode and the pointers' distance only), then its
  // names.
  void zone(const zones::Zone& z) {
    const name::Span apex = name::asSpan(z.origin());
    const std::size_t apexLabels = name::labelCount(apex);
    std::vector<name::Span> names;
    rdataNames(z.soa(), names);
    // A type no zone stores: NODATA at the apex.
    Outcome o{};
    const std::uint32_t negative = run(apex, 65534, &o, true, names);
    if (negative == FastAnswers::kNone || o != Outcome::NoData) {
      FastAnswers::Entry e;
      e.kind = FastAnswers::Kind::Fallback;
      addEntry(e, apex);
      ++fa_.stats_.fallbackZones;
      return;
    }
    const bool isSigned = z.signing() != nullptr;
    for (const zones::Node& node : z.nodes()) {
      const name::Span nm = name::asSpan(node.name);
      if (node.occluded) continue;  // below a cut: the cut's referral
      // A name of a deeper zone served here belongs to that zone.
      if (zones::zoneFor(*fa_.zoneSet_, nm, T(Type::A)) != &z) continue;
      FastAnswers::Entry e;
      e.signedZone = isSigned;
      e.zone = &z;
      e.apexLen = static_cast<std::uint8_t>(apex.size());
      e.depth = static_cast<std::uint8_t>(name::labelCount(nm) - apexLabels);
      if (node.delegation) {
        e.kind = FastAnswers::Kind::Cut;
        names.clear();
        if (const zones::RRset* ns = node.find(T(Type::NS))) {
          rdataNames(*ns, names);
          for (const auto& ref : ns->additional()) names.push_back(name::asSpan(ref.node->name));
        }
        e.blob = run(nm, T(Type::A), &o, true, names);
        if (e.blob == FastAnswers::kNone || o != Outcome::Referral)
          e.kind = FastAnswers::Kind::Fallback;
        e.blobBase = static_cast<std::uint8_t>(nm.size());
        addEntry(e, nm);
        continue;
      }
      e.kind = FastAnswers::Kind::Node;
      e.negative = negative;
      // The zone's template is this name's NODATA unless the name is too deep
      // for it, or the SOA's names lie under it (they would point into it).
      const FastAnswers::Blob& nb = fa_.blobs_[negative];
      if (e.depth > 0) {
        const name::Span below = name::parent(nm, e.depth - 1);
        e.nxUnsafe = fa_.risky(nb, below.data(), below.size());
      }
      if (e.depth <= nb.maxExtraLabels && !e.nxUnsafe) {
        e.blob = negative;
        e.blobBase = e.apexLen;
      } else {
        e.blob = run(nm, 65534, &o);
        if (e.blob == FastAnswers::kNone || o != Outcome::NoData) e.noOther = true;
        e.blobBase = static_cast<std::uint8_t>(nm.size());
      }
      std::string wild = std::string("\1*", 2).append(node.name);
      e.wildcardChild = z.find(name::asSpan(wild)) != nullptr;
      if (node.binding >= 0) e.node = &node;
      e.firstType = static_cast<std::uint32_t>(fa_.types_.size());
      auto add = [&](std::uint16_t qtype) {
        if (FastAnswers::generalOnly(qtype)) return;
        if (e.node && (qtype == T(Type::A) || qtype == T(Type::AAAA) || qtype == T(Type::CNAME)))
          return;  // the pool's types: decided per query
        for (std::uint32_t i = e.firstType; i < fa_.types_.size(); ++i)
          if (fa_.types_[i].qtype == qtype) return;
        const std::uint32_t b = run(nm, qtype);
        if (b != FastAnswers::kNone) fa_.types_.push_back({qtype, b});
      };
      if (node.find(T(Type::CNAME))) {
        // The chain's end depends on the type: the common types only.
        e.noOther = true;
        for (std::uint16_t t :
             {T(Type::CNAME), T(Type::A), T(Type::AAAA), T(Type::MX), T(Type::TXT), T(Type::SRV),
              T(Type::NS), T(Type::PTR), T(Type::SOA), std::uint16_t{257} /* CAA */,
              std::uint16_t{64} /* SVCB */, std::uint16_t{65} /* HTTPS */})
          add(t);
      } else {
        for (const auto& set : node.rrsets) add(set.type);
      }
      e.typeCount = static_cast<std::uint16_t>(fa_.types_.size() - e.firstType);
      addEntry(e, nm);
    }
  }

  void index() {
    std::size_t cap = 16;
    while (cap < fa_.entries_.size() * 2) cap <<= 1;
    fa_.slots_.assign(cap, FastAnswers::kNone);
    fa_.mask_ = cap - 1;
    for (std::size_t i = 0; i < fa_.entries_.size(); ++i) {
      std::uint64_t s = fa_.entries_[i].hash & fa_.mask_;
      while (fa_.slots_[s] != FastAnswers::kNone) s = (s + 1) & fa_.mask_;
      fa_.slots_[s] = static_cast<std::uint32_t>(i);
    }
  }

 private:
  using Blob = FastAnswers::Blob;
  const ServingSnapshot& snap_;
  FastAnswers& fa_;
  std::vector<std::uint8_t> out_;
};

std::shared_ptr<const FastAnswers> FastAnswers::build(const ServingSnapshot& snap,
                                                      std::size_t maxNames) {
  if (!snap.zones || snap.zones->hasUnavailable()) return nullptr;
  std::size_t names = 0;
  for (const auto& z : snap.zones->zones()) names += z->nodeCount();
  if (names > maxNames) return nullptr;
  // The engine must take its general path while the table is built.
  ServingSnapshot general = snap;
  general.fast = nullptr;
  auto fa = std::make_shared<FastAnswers>();
  fa->zoneSet_ = snap.zones;
  FastAnswersBuilder b(general, *fa);
  for (const auto& z : snap.zones->zones()) b.zone(*z);
  b.index();
  fa->stats_.names = fa->entries_.size();
  fa->stats_.blobs = fa->blobs_.size();
  fa->stats_.bytes = fa->bytes_.size() + fa->names_.size() + fa->entries_.size() * sizeof(Entry) +
                     fa->slots_.size() * sizeof(std::uint32_t) +
                     fa->types_.size() * sizeof(TypeBlob) + fa->blobs_.size() * sizeof(Blob) +
                     fa->ptrs_.size() * sizeof(std::uint16_t);
  return fa;
}

}  // namespace geodns::server
