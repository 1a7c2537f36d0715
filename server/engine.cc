#include "server/engine.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/clock.h"
#include "core/wire/dns.h"
#include "core/wire/response.h"
#include "core/wire/tsig.h"
#include "core/wire/wire.h"
#include "server/fast_answers.h"
#include "zones/dnssec/denial.h"
#include "zones/lookup.h"
#include "zones/signing.h"

namespace geodns::server {

using dns::Rcode;
using dns::Section;
using dns::Type;
using wire::Owner;
using wire::ParsedQuery;
using wire::ParseVerdict;
using wire::Response;
using zones::Node;
using zones::RRset;
using zones::Zone;

namespace {

constexpr std::uint16_t T(Type t) {
  return dns::toU16(t);
}

// The addresses of in-zone NS/MX/SRV targets, each in the additional section
// when it fits (left out otherwise: the client can ask).
void addAdditional(Response& resp, const RRset& set) noexcept {
  for (const auto& ref : set.additional()) {
    const RRset& a = ref.node->rrsets[ref.rrsetIndex];
    resp.add(Section::Additional, Owner{false, name::asSpan(ref.node->name)}, a);
  }
}

struct Builder {
  const ServingSnapshot& snap;
  const ParsedQuery& q;
  Response& resp;
  QueryFacts& facts;
  const IpAddress& source;
  // The zone's signing state when the query has DO and the zone is signed;
  // null otherwise, and then nothing below adds a DNSSEC record.
  const zones::ZoneSigning* sgn;
  const Zone* zoneOf;  // the zone answering, once run() started
  // The key the request's TSIG verified with (signedAnswer); null: unsigned.
  const tsig::Key* tsigKey = nullptr;
  // The signing budget a cache miss must take a token from: the snapshot's
  // over UDP; null over TCP, which rate-limits itself (a connection costs a
  // handshake from a real address, and limits.max_tcp_connections caps them).
  zones::dnssec::SignBudget* budget = nullptr;

  name::Span ownerName(Owner o) const noexcept { return o.isQname ? q.qname.span() : o.name; }

  // The RRSIGs of an RRset made for this query (pool answers, wildcard
  // expansions, denial NSECs), one per zone-signing key, from the signature
  // cache or signed now (a miss). `origTtl` is what is signed, `ttl` what is
  // served (lower for health-capped pool answers, RFC 4035 s5.3.3). A miss
  // beyond the signing budget stops the answer: done() sends it TC=1 with no
  // records, so that the resolver asks again over TCP.
  [[gnu::noinline]] bool signOnline(Section s, Owner o, std::uint16_t type, std::uint32_t origTtl,
                                    std::span<const std::span<const std::uint8_t>> rdatas,
                                    std::uint32_t ttl) noexcept {
    zones::dnssec::RRsetView v;
    v.owner = ownerName(o);
    v.type = type;
    v.ttl = origTtl;
    v.rdatas = rdatas;
    for (const auto& z : sgn->online()) {
      std::uint8_t sig[32 + dns::kMaxNameWire + zones::dnssec::kSignatureSize];
      auto reader = z.cache->tryReader();
      const zones::dnssec::SignResult r = z.cache->lookupOrSign(reader, *z.signer, v, sig, budget);
      if (r.outcome == zones::dnssec::SignOutcome::OverBudget) {
        facts.signBudget = true;
        resp.markTruncated();
        return false;
      }
      if (r.length == 0) {  // signing failed: the answer cannot validate
        facts.signFailed = true;
        return false;
      }
      if (!resp.addRecord(s, o, T(Type::RRSIG), ttl, {sig, r.length}, false)) return false;
    }
    return true;
  }
  // After a stored RRset: its RRSIGs (DO and a signed zone only), whole or TC.
  // The check is inline; the work is not, so unsigned answers keep their code.
  bool sigs(Section s, Owner o, const RRset& set, std::uint32_t ttl = wire::kStoredTtl) noexcept {
    return !sgn || signedSigs(s, o, set, ttl);
  }
  [[gnu::noinline]] bool signedSigs(Section s, Owner o, const RRset& set,
                                    std::uint32_t ttl) noexcept {
    if (set.wildcard) {
      std::span<const std::uint8_t> rdatas[zones::dnssec::SigCache::kMaxRRs];
      const std::size_t n = std::min(set.rrs.size(), zones::dnssec::SigCache::kMaxRRs);
      const auto* base = reinterpret_cast<const std::uint8_t*>(set.bytes.data());
      for (std::size_t i = 0; i < n; ++i) rdatas[i] = {base + set.rrs[i].offset, set.rrs[i].length};
      return signOnline(s, o, set.type, set.ttl, {rdatas, n},
                        ttl == wire::kStoredTtl ? set.ttl : ttl);
    }
    const zones::SigSet& sigs = set.sigs();
    if (sigs.rrs.empty()) return true;
    return resp.addRequired(s, o, sigs, ttl);
  }
  // The types at `node` for a denial bitmap, plus `extra`; at a zone cut only
  // NS and DS are this zone's.
  static zones::dnssec::TypeSet typesAt(const Node* node,
                                        std::initializer_list<std::uint16_t> extra) noexcept {
    zones::dnssec::TypeSet types(extra);
    if (node)
      for (const auto& set : node->rrsets)
        if (!node->delegation || set.type == T(Type::NS) || set.type == T(Type::DS))
          types.add(set.type);
    return types;
  }
  // Compact denial (RFC 9824): one NSEC at the name, signed online. NxName for
  // a name that does not exist, else the types at `node` plus `extra`.
  [[gnu::noinline]] bool compactNsec(Owner o, const Node* node, zones::dnssec::CompactKind kind,
                                     std::uint32_t ttl,
                                     std::initializer_list<std::uint16_t> extra = {}) noexcept {
    const zones::dnssec::TypeSet types = kind == zones::dnssec::CompactKind::NoData
                                             ? typesAt(node, extra)
                                             : zones::dnssec::TypeSet(extra);
    std::uint8_t rdata[dns::kMaxNameWire + 2 + 2 * 34];
    Writer w(rdata, sizeof rdata);
    if (!zones::dnssec::writeCompactNsecRdata(w, ownerName(o), types, kind) || !w.ok()) {
      facts.signFailed = true;
      return false;
    }
    const std::span<const std::uint8_t> rd{rdata, w.size()};
    if (!resp.addRecord(Section::Authority, o, T(Type::NSEC), ttl, rd, false)) return false;
    return signOnline(Section::Authority, o, T(Type::NSEC), ttl, {&rd, 1}, ttl);
  }

  // NSEC3 white lies (RFC 7129 appendix B): the bitmap of a name that exists
  // lists RRSIG too unless nothing there is signed (an insecure delegation:
  // NS alone, RFC 4035 s2.2; an empty non-terminal: nothing).
  static zones::dnssec::TypeSet nsec3Types(const Node* node,
                                           std::initializer_list<std::uint16_t> extra) noexcept {
    zones::dnssec::TypeSet types = typesAt(node, extra);
    const bool insecureCut = node && node->delegation && !types.contains(T(Type::DS));
    if (!types.empty() && !insecureCut) types.add(T(Type::RRSIG));
    return types;
  }
  // One NSEC3 record, owner "<hash>.<zone>", and its RRSIGs (signed online).
  [[gnu::noinline]] bool nsec3(const zones::dnssec::Nsec3Record& r, std::uint32_t ttl) noexcept {
    name::NameBuf owner;
    std::uint8_t rdata[6 + zones::dnssec::kNsec3HashSize + 512];
    Writer w(rdata, sizeof rdata);
    if (!zoneOf || !zones::dnssec::nsec3OwnerName(r.owner, name::asSpan(zoneOf->origin()), owner) ||
        !zones::dnssec::writeNsec3Rdata(w, r) || !w.ok()) {
      facts.signFailed = true;
      return false;
    }
    const Owner o{false, owner.span()};
    const std::span<const std::uint8_t> rd{rdata, w.size()};
    if (!resp.addRecord(Section::Authority, o, zones::dnssec::kTypeNsec3, ttl, rd, false))
      return false;
    return signOnline(Section::Authority, o, zones::dnssec::kTypeNsec3, ttl, {&rd, 1}, ttl);
  }
  // NODATA (or an insecure delegation): the NSEC3 matching the name.
  bool nsec3NoData(Owner o, const Node* node, std::uint32_t ttl,
                   std::initializer_list<std::uint16_t> extra = {}) noexcept {
    zones::dnssec::Nsec3Record r;
    if (!zones::dnssec::nsec3Match(ownerName(o), nsec3Types(node, extra), r)) {
      facts.signFailed = true;
      return false;
    }
    return nsec3(r, ttl);
  }
  // NXDOMAIN (RFC 5155 s7.2.2): the closest encloser matched, the next closer
  // name and the wildcard at the closest encloser covered.
  bool nsec3NxDomain(Owner o, const Node* closestEncloser, std::uint32_t ttl) noexcept {
    zones::dnssec::Nsec3Record rs[3];
    const std::size_t n = closestEncloser ? zones::dnssec::nsec3NxDomain(
                                                ownerName(o), name::asSpan(closestEncloser->name),
                                                nsec3Types(closestEncloser, {}), rs)
                                          : 0;
    if (n == 0) {
      facts.signFailed = true;
      return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
      // "*.<ce>" asked: its next closer name is the wildcard, covered once.
      if (i == 2 && rs[2].owner == rs[1].owner) break;
      if (!nsec3(rs[i], ttl)) return false;
    }
    return true;
  }
  // The denial records of the zone's kind for a NODATA at `node` (or an
  // insecure delegation at it).
  bool noDataProof(Owner o, const Node* node, std::uint32_t ttl,
                   std::initializer_list<std::uint16_t> extra = {}) noexcept {
    if (sgn->denial() == config::Denial::Nsec3) return nsec3NoData(o, node, ttl, extra);
    return compactNsec(o, node, zones::dnssec::CompactKind::NoData, ttl, extra);
  }

  // A/AAAA (or CNAME) for a name bound to a pool: decidePool() makes the
  // whole decision (explain calls it too); this writes it.
  std::size_t pool(const Zone& zone, const Node& node, Owner owner) noexcept {
    const gslb::Gslb& g = *snap.gslb;
    const gslb::Binding& b = g.bindings[static_cast<std::size_t>(node.binding)];
    facts.gslb = true;
    facts.binding = node.binding;
    gslb::PoolQuery pq;
    pq.binding = static_cast<std::uint32_t>(node.binding);
    pq.client = gslb::clientFor(g.policies[b.policy], source, q.ecs ? q.ecsFamily : 0, q.ecsSource,
                                q.ecsAddress);
    pq.qtype = q.qtype;
    pq.qname = q.qname.span();
    pq.queryId = q.id;
    gslb::PoolDecision pd;
    // A compiled binding: one prefix-tree walk (gslb/compiled.h).
    const gslb::CompiledDecisions* compiled = compiledFor(snap);
    if (!compiled || !gslb::decideCompiled(*compiled, pq, pd))
      gslb::decidePool(g, pq, snap.health.get(), pd);
    const gslb::Decision& d = pd.decision;
    facts.allDown = pd.poolAllDown;
    facts.fellBack = pd.fellBack;
    facts.pool = pd.pool;
    if (d.chosen) facts.region = d.chosen->region;
    // Scope only for answers that depend on the ECS address (RFC 7871
    // s7.2.1), negative ones included: where the client is decided them.
    resp.setEcsScope(pd.scope);
    facts.ecsScope = pd.scope;
    switch (pd.outcome) {
      case gslb::PoolOutcome::ServFail:
        facts.outcome = Outcome::ServFail;
        return done(Rcode::ServFail, false);
      case gslb::PoolOutcome::NoData: {
        // The bitmap names what this pool could answer, never the asked type.
        const bool cname = g.pools[static_cast<std::size_t>(b.pool)].isCname;
        const std::uint16_t other = q.qtype == T(Type::A) ? T(Type::AAAA) : T(Type::A);
        if (cname) return negative(zone, Rcode::NoError, owner, &node, {T(Type::CNAME)});
        return negative(zone, Rcode::NoError, owner, &node, {other});
      }
      case gslb::PoolOutcome::Answer:
        break;
    }
    facts.outcome = Outcome::Answer;
    const std::uint32_t signedTtl =
        std::max(g.pools[static_cast<std::size_t>(pd.pool)].ttl, pd.ttl);
    if (g.pools[static_cast<std::size_t>(pd.pool)].isCname) {
      const std::span<const std::uint8_t> target = name::asSpan(d.chosen->cname);
      if (resp.addRecord(Section::Answer, owner, T(Type::CNAME), pd.ttl, target, true) && sgn)
        signOnline(Section::Answer, owner, T(Type::CNAME), signedTtl, {&target, 1}, pd.ttl);
      return done(Rcode::NoError, true);
    }
    const std::uint16_t type = q.qtype == T(Type::AAAA) ? T(Type::AAAA) : T(Type::A);
    const std::size_t mark = resp.mark();
    const std::uint16_t before = resp.answerCount();
    for (std::uint8_t i = 0; i < d.picked; ++i) {
      const IpAddress& a = d.members[i]->addr;
      if (!resp.addRecord(Section::Answer, owner, type, pd.ttl, {a.bytes, a.size()}, false)) {
        resp.rollbackAnswers(mark, before);  // an RRset is cut whole
        return done(Rcode::NoError, true);
      }
      facts.memberCell[i] = d.members[i]->cell;
    }
    facts.answered = d.picked;
    if (sgn) {
      std::span<const std::uint8_t> rdatas[gslb::kMaxAnswers];
      for (std::uint8_t i = 0; i < d.picked; ++i)
        rdatas[i] = {d.members[i]->addr.bytes, d.members[i]->addr.size()};
      signOnline(Section::Answer, owner, type, signedTtl, {rdatas, d.picked}, pd.ttl);
    }
    return done(Rcode::NoError, true);
  }

  // SOA in authority; in a signed zone with DO its RRSIG and the denial: a
  // compact-denial NSEC at `o` (the name asked, or the CNAME chain's last
  // target), a name that does not exist then answered NOERROR (RFC 9824 s3);
  // or NSEC3 white lies, NXDOMAIN kept. For NXDOMAIN `node` is the closest
  // encloser.
  std::size_t negative(const Zone& z, Rcode rcode, Owner o, const Node* node,
                       std::initializer_list<std::uint16_t> extra = {}) noexcept {
    const Owner apex{false, name::asSpan(z.origin())};
    facts.outcome = rcode == Rcode::NXDomain ? Outcome::NXDomain : Outcome::NoData;
    if (resp.addRequired(Section::Authority, apex, z.soa(), z.negativeTtl()) && sgn &&
        sigs(Section::Authority, apex, z.soa(), z.negativeTtl())) {
      if (rcode != Rcode::NXDomain) {
        noDataProof(o, node, z.negativeTtl(), extra);
      } else if (sgn->denial() == config::Denial::Nsec3) {
        nsec3NxDomain(o, node, z.negativeTtl());
      } else {
        compactNsec(o, node, zones::dnssec::CompactKind::NxName, z.negativeTtl(), extra);
        rcode = Rcode::NoError;
      }
    }
    return done(rcode, true);
  }
  std::size_t done(Rcode rcode, bool aa) noexcept {
    if (facts.signBudget) {  // nothing of an answer we could not sign whole
      resp.truncateToQuestion();
      facts.answered = 0;
    }
    facts.rcode = dns::toU16(rcode);
    facts.truncated = resp.truncated();
    return resp.finish(rcode, aa, q.dnssecOk);
  }
  // NS of the cut in authority, glue in additional. After a CNAME chain the
  // answer keeps AA=1: the CNAMEs are ours (RFC 1034 4.3.2 step 3b).
  std::size_t referral(const Node& cut, bool afterCname = false) noexcept {
    const RRset* ns = cut.find(T(Type::NS));
    facts.outcome = afterCname ? Outcome::Answer : Outcome::Referral;
    const Owner at{false, name::asSpan(cut.name)};
    if (resp.addRequired(Section::Authority, at, *ns)) {
      // Signed zone, DO: the DS and its RRSIG, or the proof that there is no
      // DS (an insecure delegation); NS and glue stay unsigned (RFC 4035 s2.2).
      if (sgn) {
        if (const RRset* ds = cut.find(T(Type::DS))) {
          if (resp.addRequired(Section::Authority, at, *ds)) sigs(Section::Authority, at, *ds);
        } else if (const Zone* z = zoneOf) {
          noDataProof(at, &cut, z->negativeTtl());
        }
      }
      // In-domain glue must be complete or the message truncated (RFC 9471).
      for (const auto& ref : ns->additional())
        if (!resp.add(Section::Additional, Owner{false, name::asSpan(ref.node->name)},
                      ref.node->rrsets[ref.rrsetIndex])) {
          resp.addRequired(Section::Additional, Owner{false, name::asSpan(ref.node->name)},
                           ref.node->rrsets[ref.rrsetIndex]);
          break;
        }
    }
    return done(Rcode::NoError, afterCname);
  }

  // Writes what zones::resolve() found: the CNAME chain, then its end.
  std::size_t run(const Zone& zone) noexcept {
    const zones::Resolution r = zones::resolve(zone, q.qname.span(), q.qtype);
    if (q.dnssecOk) {
      sgn = zone.signing();
      facts.dnssec = sgn != nullptr;
    }
    zoneOf = &zone;
    Owner owner{true, q.qname.span()};
    for (std::uint8_t i = 0; i < r.cnames; ++i) {
      if (!resp.addRequired(Section::Answer, owner, *r.chain[i]) ||
          !sigs(Section::Answer, owner, *r.chain[i]))
        return done(Rcode::NoError, true);
      facts.outcome = Outcome::Answer;
      owner = Owner{false, name::asSpan(r.chain[i]->target())};
    }
    switch (r.kind) {
      case zones::Resolved::ChainEnd:  // out of zone, too long or a loop: the resolver goes on
        return done(Rcode::NoError, true);
      case zones::Resolved::NXDomain:
        return negative(zone, Rcode::NXDomain, owner, r.node);
      case zones::Resolved::Referral:  // after a CNAME: the chain stops at the cut
        return referral(*r.node, r.cnames > 0);
      case zones::Resolved::Pool:
        return pool(zone, *r.node, owner);
      case zones::Resolved::NoData:
        if (r.cnames > 0 && !sgn) {  // NODATA at the end of a chain: keep NOERROR, add SOA
          resp.add(Section::Authority, Owner{false, name::asSpan(zone.origin())}, zone.soa(),
                   dns::kClassIN, zone.negativeTtl());
          return done(Rcode::NoError, true);
        }
        if (sgn && r.node->binding >= 0) {  // the pool's types exist at the name too
          const gslb::Gslb& g = *snap.gslb;
          const auto& b = g.bindings[static_cast<std::size_t>(r.node->binding)];
          if (g.pools[static_cast<std::size_t>(b.pool)].isCname)
            return negative(zone, Rcode::NoError, owner, r.node, {T(Type::CNAME)});
          return negative(zone, Rcode::NoError, owner, r.node, {T(Type::A), T(Type::AAAA)});
        }
        return negative(zone, Rcode::NoError, owner, r.node);
      case zones::Resolved::Answer:
        break;
    }
    facts.outcome = Outcome::Answer;
    if (resp.addRequired(Section::Answer, owner, *r.set) && sigs(Section::Answer, owner, *r.set))
      addAdditional(resp, *r.set);
    return done(Rcode::NoError, true);
  }

  // NOTAUTH, the request's TSIG answered unsigned with error BADKEY (RFC 8945
  // 5.2.2): not an answer. The TSIG was validated by parseQuery.
  std::size_t badKey(std::span<const std::uint8_t> msg) noexcept {
    facts.outcome = Outcome::BadKey;
    tsig::Record req;
    Reader r(msg, q.tsigAt);
    if (!tsig::read(r, req)) return done(Rcode::FormErr, false);
    resp.setTsig(&req, dns::TsigError::BadKey);
    return done(Rcode::NotAuth, false);
  }

  // Everything after the header checks and the TSIG: opcode, class, type, zone.
  std::size_t dispatch(Transport transport) noexcept {
    if (transport == Transport::Udp) budget = snap.signBudget.get();
    if (q.opcode == static_cast<std::uint8_t>(dns::Opcode::Notify)) return notify();
    if (q.opcode != static_cast<std::uint8_t>(dns::Opcode::Query)) {
      // UPDATE: not authorized for anyone (Knot).
      facts.outcome = Outcome::NotAuth;
      return done(Rcode::NotAuth, false);
    }

    if (q.qclass == dns::kClassCH) return chaos();
    // QCLASS ANY is answered from the IN data, records in class IN (NSD, Knot).
    if (q.qclass != dns::kClassIN && q.qclass != dns::kClassANY) {
      facts.outcome = Outcome::Refused;
      return done(Rcode::Refused, false);
    }
    switch (static_cast<Type>(q.qtype)) {
      case Type::AXFR:
        if (transport == Transport::Udp) {  // never over UDP (RFC 5936 4.2; NSD, Knot)
          facts.outcome = Outcome::NotImp;
          return done(Rcode::NotImp, false);
        }
        facts.outcome = Outcome::Transfer;  // the TCP server streams it
        return 0;
      case Type::IXFR:
        if (transport == Transport::Udp) {
          // Answered over TCP only (AXFR-style, RFC 1995 4): TC=1 sends the
          // client there, where the transfer rules apply.
          facts.outcome = Outcome::NoData;
          resp.markTruncated();
          return done(Rcode::NoError, false);
        }
        facts.outcome = Outcome::Transfer;
        return 0;
      default:  // OPT, TSIG, TKEY, MAILA, MAILB look up like any type (NSD, Knot)
        break;
    }

    const Zone* zone = zones::zoneFor(*snap.zones, q.qname.span(), q.qtype);
    if (snap.zones->hasUnavailable() && snap.zones->unavailableFor(q.qname.span(), zone)) {
      // A secondary zone not transferred yet, or expired (RFC 1035 4.3.5,
      // NSD, Knot): SERVFAIL, not an answer from a parent zone.
      facts.outcome = Outcome::ServFail;
      return done(Rcode::ServFail, false);
    }
    if (!zone) {
      facts.outcome = Outcome::Refused;
      return done(Rcode::Refused, false);
    }
    return run(*zone);
  }

  // NOTIFY (RFC 1996 3.7, 3.10): accepted for a secondary zone from the
  // address of one of its primaries, signed with the zone's key when it has
  // one; the answer echoes the question with AA (the TCP/UDP server then
  // wakes the zone's refresh: Outcome::Notify). Anything else is REFUSED, as
  // NSD does; nothing here trusts the SOA the NOTIFY may carry.
  std::size_t notify() noexcept {
    const ServingSnapshot::ZoneRules* rules =
        q.haveQuestion && q.qtype == T(Type::SOA) && q.qclass == dns::kClassIN
            ? snap.rulesFor(q.qname.span())
            : nullptr;
    bool ok = rules && !rules->primaries.empty();
    if (ok) {
      const IpAddress from = source.isV4Mapped() ? source.v4FromMapped() : source;
      ok = false;
      for (const IpAddress& p : rules->primaryIps) ok = ok || p == from;
    }
    if (ok && !rules->primaryTsigWire.empty())
      ok = tsigKey && tsigKey->name == rules->primaryTsigWire;  // both lowercase wire
    if (!ok) {
      facts.outcome = Outcome::Refused;
      return done(Rcode::Refused, false);
    }
    facts.outcome = Outcome::Notify;
    return done(Rcode::NoError, true);
  }

  std::size_t chaos() noexcept {
    static constexpr std::uint8_t kVersionBind[] = "\7version\4bind";
    static constexpr std::uint8_t kVersionServer[] = "\7version\6server";
    static constexpr std::uint8_t kIdServer[] = "\2id\6server";
    static constexpr std::uint8_t kHostnameBind[] = "\10hostname\4bind";
    auto is = [&](const std::uint8_t* n, std::size_t len) {
      return q.qname.len == len && std::memcmp(q.qname.data, n, len) == 0;
    };
    const RRset* set = nullptr;
    if (is(kVersionBind, sizeof kVersionBind) || is(kVersionServer, sizeof kVersionServer))
      set = &snap.chaosVersion;
    else if (is(kIdServer, sizeof kIdServer) || is(kHostnameBind, sizeof kHostnameBind))
      set = &snap.chaosIdentity;
    if (!set || set->rrs.empty() || (q.qtype != T(Type::TXT) && q.qtype != T(Type::ANY))) {
      facts.outcome = Outcome::Refused;
      return done(Rcode::Refused, false);
    }
    facts.outcome = Outcome::Answer;
    if (!resp.add(Section::Answer, Owner{true, q.qname.span()}, *set, dns::kClassCH))
      return done(Rcode::ServFail, false);
    return done(Rcode::NoError, true);
  }
};

std::size_t responseLimit(const ServingSnapshot& snap, const ParsedQuery& q, Transport t,
                          std::size_t outSize) noexcept {
  const std::size_t limit =
      t == Transport::Tcp ? dns::kMaxMessage : wire::udpResponseLimit(q, snap.limits.maxUdpPayload);
  return std::min(limit, outSize);
}

// A query with a TSIG while keys are configured (RFC 8945 5.2): verified,
// answered, and the answer signed. Off the normal path: OpenSSL allocates.
[[gnu::noinline]] std::size_t signedAnswer(const ServingSnapshot& snap,
                                           std::span<const std::uint8_t> msg,
                                           std::span<std::uint8_t> out, Transport transport,
                                           const IpAddress& source, QueryFacts& facts,
                                           const ParsedQuery& q) noexcept {
  const auto now = static_cast<std::uint64_t>(SteadyClock().unixSeconds());
  const tsig::RequestCheck check = tsig::verifyRequest(msg, *snap.keyring, now);
  std::optional<tsig::Signer> signer;
  if (check.signsAnswer()) signer = tsig::Signer::forResponse(*check.key, check.mac.span());
  const std::size_t limit = responseLimit(snap, q, transport, out.size());
  const std::size_t reserve = signer ? signer->reserve() : 0;
  if (limit < reserve + dns::kHeaderSize + 64) return 0;
  Response resp(out, limit - reserve, q);
  resp.setAdvertised(snap.limits.maxUdpPayload);
  resp.header(q);
  if (q.haveQuestion) resp.question(q);
  Builder b{snap, q, resp, facts, source, nullptr, nullptr};
  std::size_t len = 0;
  switch (check.verdict) {
    case tsig::Verdict::FormErr:
      facts.outcome = Outcome::FormErr;
      return b.done(Rcode::FormErr, false);
    case tsig::Verdict::BadKey:
    case tsig::Verdict::BadSig:  // unsigned TSIG with the error (5.3.2)
      facts.outcome = Outcome::BadKey;
      resp.setTsig(&check.record, check.error());
      return b.done(Rcode::NotAuth, false);
    case tsig::Verdict::BadTime:
    case tsig::Verdict::BadTrunc:  // signed TSIG with the error
      facts.outcome = Outcome::BadKey;
      len = b.done(Rcode::NotAuth, false);
      break;
    case tsig::Verdict::Ok:
    case tsig::Verdict::Unsigned:
      b.tsigKey = check.verdict == tsig::Verdict::Ok ? check.key : nullptr;
      len = b.dispatch(transport);
      break;
  }
  if (len == 0 || !signer) return len;
  Writer w(out.data(), limit, len);
  if (!signer->sign(w, now, check.error(), check.record.timeSigned)) return 0;
  return w.size();
}

// The precompiled path (server/fast_answers.h): a query of the common shape
// answered from the table, or a pool's A/AAAA without the zone walk. 0: the
// general path answers (it parses again and resets `facts` and `q`).
std::size_t fastAnswer(const ServingSnapshot& snap, const FastAnswers& fa,
                       std::span<const std::uint8_t> msg, std::span<std::uint8_t> out,
                       Transport transport, const IpAddress& source, QueryFacts& facts,
                       ParsedQuery& q) noexcept {
  if (fa.zones() != snap.zones.get() || out.size() < dns::kMinUdpPayload ||
      !wire::parseSimpleQuery(msg, q))
    return 0;
  if (q.qclass != dns::kClassIN || FastAnswers::generalOnly(q.qtype)) return 0;
  const std::uint8_t* const qname = q.qname.data;
  const std::size_t len = q.qname.len;
  const FastAnswers::Entry* e = fa.find(qname, len);
  std::uint32_t blob;
  std::size_t delta = 0;  // how much longer the name is than the template's
  bool nxdomain = false;
  if (e) {
    if (e->kind == FastAnswers::Kind::Fallback || (q.dnssecOk && e->signedZone)) return 0;
    if (e->kind == FastAnswers::Kind::Cut) {
      blob = e->blob;
    } else if ((blob = fa.typeBlob(*e, q.qtype)) == FastAnswers::kNone) {
      if (e->node && (q.qtype == T(Type::A) || q.qtype == T(Type::AAAA))) {
        facts.qtype = q.qtype;
        facts.edns = q.edns;
        facts.precompiled = true;
        Response resp(out, responseLimit(snap, q, transport, out.size()), q);
        resp.setAdvertised(snap.limits.maxUdpPayload);
        resp.header(q);
        resp.question(q);
        Builder b{snap, q, resp, facts, source, nullptr, e->zone};
        if (transport == Transport::Udp) b.budget = snap.signBudget.get();
        return b.pool(*e->zone, *e->node, Owner{true, q.qname.span()});
      }
      if (e->noOther || (e->node && q.qtype == T(Type::CNAME))) return 0;
      blob = e->blob;  // NODATA
      delta = len - e->blobBase;
    }
  } else {
    // Not a name of the table: its closest enclosing entry decides.
    std::size_t off = 0, prev = 0, extra = 0;
    do {
      if (qname[off] == 0) return 0;  // in no zone: REFUSED by the general path
      prev = off;
      off += std::size_t{1} + qname[off];
      ++extra;
    } while (!(e = fa.find(qname + off, len - off)));
    if (e->kind == FastAnswers::Kind::Fallback || (q.dnssecOk && e->signedZone)) return 0;
    if (e->kind == FastAnswers::Kind::Cut) {
      blob = e->blob;  // the referral, for a name below the cut
      delta = off;
    } else {
      // NXDOMAIN, unless the closest encloser's wildcard synthesizes it.
      if (e->wildcardChild || e->nxUnsafe) return 0;
      blob = e->negative;
      delta = len - e->apexLen;
      extra += e->depth;
      nxdomain = true;
    }
    // The template's compression must hold for this longer name.
    const FastAnswers::Blob& t = fa.blob(blob);
    if (extra > t.maxExtraLabels || ((e->kind == FastAnswers::Kind::Cut || e->depth == 0) &&
                                     fa.risky(t, qname + prev, len - prev)))
      return 0;
  }

  const FastAnswers::Blob& b = fa.blob(blob);
  const std::size_t limit = responseLimit(snap, q, transport, out.size());
  const std::size_t qend = dns::kHeaderSize + len + 4;
  if (qend + b.length + (q.edns ? Response::optSize(q) : 0) > limit) return 0;
  const std::uint8_t rcode = nxdomain ? static_cast<std::uint8_t>(Rcode::NXDomain) : b.rcode;
  std::uint8_t* o = out.data();
  const std::uint16_t flags = static_cast<std::uint16_t>(dns::kFlagQR | (q.flags & dns::kFlagRD) |
                                                         (b.aa ? dns::kFlagAA : 0) | rcode);
  const std::uint16_t ar = static_cast<std::uint16_t>(b.counts[2] + (q.edns ? 1 : 0));
  const std::uint16_t header[6] = {q.id, flags, 1, b.counts[0], b.counts[1], ar};
  for (int i = 0; i < 6; ++i) {
    o[2 * i] = static_cast<std::uint8_t>(header[i] >> 8);
    o[2 * i + 1] = static_cast<std::uint8_t>(header[i]);
  }
  std::memcpy(o + dns::kHeaderSize, q.qnameRaw.data, len);
  o[qend - 4] = static_cast<std::uint8_t>(q.qtype >> 8);
  o[qend - 3] = static_cast<std::uint8_t>(q.qtype);
  o[qend - 2] = static_cast<std::uint8_t>(q.qclass >> 8);
  o[qend - 1] = static_cast<std::uint8_t>(q.qclass);
  std::memcpy(o + qend, fa.bytes() + b.offset, b.length);
  if (delta != 0) {
    const std::uint16_t* p = fa.pointers() + b.ptrOffset;
    for (std::uint16_t k = 0; k < b.ptrCount; ++k) {
      std::uint8_t* at = o + qend + p[k];
      const std::size_t v = ((std::size_t{at[0]} & 0x3F) << 8 | at[1]) + delta;
      at[0] = static_cast<std::uint8_t>(0xC0 | (v >> 8));
      at[1] = static_cast<std::uint8_t>(v);
    }
  }
  std::size_t n = qend + b.length;
  if (q.edns) n += Response::writeOpt(o + n, q, snap.limits.maxUdpPayload, rcode, q.dnssecOk, 0);
  facts.qtype = q.qtype;
  facts.edns = q.edns;
  facts.outcome = nxdomain ? Outcome::NXDomain : b.outcome;
  facts.rcode = rcode;
  facts.precompiled = true;
  return n;
}

std::size_t answerImpl(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                       std::span<std::uint8_t> out, Transport transport, const IpAddress& source,
                       QueryFacts& facts, ParsedQuery& q, Compressor::PointerLog* log) noexcept {
  q.reset();
  const ParseVerdict v = wire::parseQuery(msg, q);
  if (v == ParseVerdict::Drop || out.size() < dns::kMinUdpPayload) return 0;
  facts.qtype = q.qtype;
  facts.edns = q.edns;

  Response resp(out, responseLimit(snap, q, transport, out.size()), q);
  if (log) resp.setPointerLog(log);
  resp.setAdvertised(snap.limits.maxUdpPayload);
  resp.header(q);
  if (q.haveQuestion) resp.question(q);
  Builder b{snap, q, resp, facts, source, nullptr, nullptr};

  switch (v) {
    case ParseVerdict::FormErr:
      facts.outcome = Outcome::FormErr;
      return b.done(Rcode::FormErr, false);
    case ParseVerdict::NotImp:
      facts.outcome = Outcome::NotImp;
      return b.done(Rcode::NotImp, false);
    case ParseVerdict::BadVers:
      facts.outcome = Outcome::BadVers;
      return b.done(Rcode::BadVers, false);
    default:
      break;
  }
  if (q.tsigAt != 0) {
    // RFC 8945 5.2.2: a key we do not know is NOTAUTH/BADKEY whatever the
    // message asks. With keys configured, the signed path verifies and signs.
    if (snap.keyring && snap.keyring->size() > 0)
      return signedAnswer(snap, msg, out, transport, source, facts, q);
    return b.badKey(msg);
  }
  return b.dispatch(transport);
}

}  // namespace

std::size_t answer(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                   std::span<std::uint8_t> out, Transport transport, const IpAddress& source,
                   QueryFacts* factsOut, ParsedQuery* parsedOut) noexcept {
  QueryFacts localFacts;
  QueryFacts& facts = factsOut ? *factsOut : localFacts;
  facts.reset();
  ParsedQuery localQuery;
  ParsedQuery& q = parsedOut ? *parsedOut : localQuery;
  if (const FastAnswers* fa = snap.fast.get())
    if (const std::size_t n = fastAnswer(snap, *fa, msg, out, transport, source, facts, q))
      return n;
  return answerImpl(snap, msg, out, transport, source, facts, q, nullptr);
}

namespace detail {
std::size_t answerLoggingPointers(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                                  std::span<std::uint8_t> out, QueryFacts& facts,
                                  Compressor::PointerLog& log) noexcept {
  ParsedQuery q;
  facts.reset();
  return answerImpl(snap, msg, out, Transport::Tcp, IpAddress{}, facts, q, &log);
}
}  // namespace detail

}  // namespace geodns::server
