#include "server/engine.h"

#include <algorithm>
#include <cstring>

#include "core/wire/compress.h"
#include "core/wire/dns.h"
#include "core/wire/tsig.h"
#include "core/wire/wire.h"

namespace geodns::server {

using dns::Type;
using zones::Node;
using zones::RRset;
using zones::Zone;

namespace {

constexpr std::size_t kOptSize = 11;  // root name, type, class, ttl, rdlength
constexpr int kMaxCnameHops = 8;
constexpr std::uint16_t T(Type t) {
  return dns::toU16(t);
}

// Skips one resource record (name, fixed part, RDATA); false when malformed.
bool skipRR(Reader& r, std::uint16_t* typeOut, name::NameBuf& scratch) noexcept {
  if (!name::read(r, scratch, false)) return false;
  std::uint16_t type = r.u16();
  r.skip(6);  // class, ttl
  std::uint16_t rdlen = r.u16();
  r.skip(rdlen);
  if (typeOut) *typeOut = type;
  return r.ok();
}

constexpr std::uint16_t kOptionEcs = 8;

// RFC 7871 s6 and s7.1.1: a malformed option, or a second one, is FORMERR.
bool parseEcs(std::span<const std::uint8_t> data, ParsedQuery& q) noexcept {
  if (q.ecs) return false;
  Reader r(data);
  const std::uint16_t family = r.u16();
  const std::uint8_t source = r.u8();
  r.u8();  // SCOPE PREFIX-LENGTH: must be 0 in queries; ignored
  if (!r.ok()) return false;
  const unsigned maxBits = family == 1 ? 32 : family == 2 ? 128 : 0;
  if (maxBits == 0 || source > maxBits) return false;
  const std::size_t len = (source + 7u) / 8u;
  if (r.remaining() != len) return false;
  auto addr = r.bytes(len);
  if (len > 0 && (source % 8) != 0 &&
      (addr[len - 1] & static_cast<std::uint8_t>(0xFFu >> (source % 8))) != 0)
    return false;  // bits set beyond the source prefix
  q.ecs = true;
  q.ecsFamily = family;
  q.ecsSource = source;
  std::memset(q.ecsAddress, 0, sizeof q.ecsAddress);
  if (len) std::memcpy(q.ecsAddress, addr.data(), len);
  return true;
}

}  // namespace

ParseVerdict parseQuery(std::span<const std::uint8_t> msg, ParsedQuery& q) noexcept {
  if (msg.size() < dns::kHeaderSize) return ParseVerdict::Drop;
  Reader r(msg);
  q.id = r.u16();
  q.flags = r.u16();
  if (q.flags & dns::kFlagQR) return ParseVerdict::Drop;  // never answer a response
  const std::uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  q.opcode = static_cast<std::uint8_t>((q.flags & dns::kOpcodeMask) >> 11);
  const bool knownOpcode = q.opcode == static_cast<std::uint8_t>(dns::Opcode::Query) ||
                           q.opcode == static_cast<std::uint8_t>(dns::Opcode::Notify) ||
                           q.opcode == static_cast<std::uint8_t>(dns::Opcode::Update);
  // An opcode we do not implement may give the sections another layout, so a
  // message we cannot read is NOTIMP for it, not FORMERR.
  const ParseVerdict malformed = knownOpcode ? ParseVerdict::FormErr : ParseVerdict::NotImp;

  // The question section. Any question we cannot read ends the parse: the
  // records behind it (and the OPT) cannot be found, so the reply is the
  // header alone.
  name::NameBuf scratch;
  for (std::uint16_t i = 0; i < qd; ++i) {
    if (!name::read(r, i == 0 ? q.qnameRaw : scratch, false)) return malformed;
    const std::uint16_t qtype = r.u16(), qclass = r.u16();
    if (!r.ok()) return malformed;
    if (i == 0) {
      q.qtype = qtype;
      q.qclass = qclass;
    }
  }
  if (qd == 1) {
    q.haveQuestion = true;
    std::memcpy(q.qname.data, q.qnameRaw.data, q.qnameRaw.len);
    q.qname.len = q.qnameRaw.len;
    name::toLower(q.qname.data, q.qname.len);
  }

  // Answer and authority: skipped; a TSIG there is misplaced (RFC 8945 5.1),
  // and so is an OPT (pseudo-RR of the additional section; NSD and Knot).
  std::uint16_t type = 0;
  for (std::uint32_t i = 0; i < std::uint32_t{an} + ns; ++i)
    if (!skipRR(r, &type, scratch) || type == T(Type::TSIG) || type == T(Type::OPT))
      return malformed;

  // Additional: at most one OPT; a TSIG only as the last record. A message
  // that breaks off, or an OPT that is itself malformed, gets no OPT back
  // (the OPT cannot be trusted); a well-formed OPT with a bad ECS option does
  // (RFC 7871 6 makes it FORMERR; the OPT still tells our size and DO).
  bool ecsBad = false, seenOpt = false;
  for (std::uint16_t i = 0; i < ar; ++i) {
    const std::size_t start = r.pos();
    if (!skipRR(r, &type, scratch)) return malformed;
    if (type == T(Type::TSIG)) {
      tsig::Record rec;
      Reader t(msg, start);
      if (i + 1 != ar || !tsig::read(t, rec)) return malformed;
      q.tsigAt = static_cast<std::uint16_t>(start);
      continue;
    }
    if (type != T(Type::OPT)) continue;
    if (seenOpt) return malformed;  // RFC 6891 6.1.1: more than one OPT; no OPT back, as Knot
    seenOpt = true;
    Reader o(msg, start);
    if (o.u8() != 0) return malformed;  // OPT owner must be the root
    o.skip(2);
    q.udpSize = std::max(o.u16(), dns::kMinUdpPayload);
    const std::uint32_t ttl = o.u32();
    q.ednsVersion = static_cast<std::uint8_t>(ttl >> 16);
    q.dnssecOk = (ttl & dns::kEdnsDO) != 0;
    std::uint16_t rdlen = o.u16();
    Reader opt(o.bytes(rdlen));
    while (opt.ok() && opt.remaining() > 0) {  // options: code, length, data
      const std::uint16_t code = opt.u16();
      const std::uint16_t len = opt.u16();
      auto data = opt.bytes(len);
      if (!opt.ok()) break;
      if (code == kOptionEcs && !parseEcs(data, q)) ecsBad = true;
    }
    if (!o.ok() || !opt.ok()) return malformed;
  }
  q.edns = seenOpt;
  // Options belong to their EDNS version: a version we do not speak is
  // BADVERS before its options are judged (NSD; Knot without its ECS module).
  if (q.edns && q.ednsVersion > 0) {
    q.ecs = false;
    return ParseVerdict::BadVers;
  }
  if (!knownOpcode) return ParseVerdict::NotImp;
  if (ecsBad) {
    q.ecs = false;  // nothing to echo: the FORMERR names no client subnet
    return ParseVerdict::FormErr;
  }
  if (qd != 1) return ParseVerdict::FormErr;
  return ParseVerdict::Ok;
}

namespace {

// Where the owner of an RRset comes from: the question name (a pointer to
// offset 12, which also preserves the client's case for synthesized answers)
// or a stored name.
struct Owner {
  bool isQname;
  name::Span name;
};
constexpr std::uint16_t kQnamePointer = 0xC000 | dns::kHeaderSize;

std::size_t nameLength(const std::uint8_t* p, std::size_t max) noexcept {
  std::size_t i = 0;
  while (i < max && p[i] != 0) i += std::size_t{1} + p[i];
  return std::min(i + 1, max);
}

class Response {
 public:
  // The OPT record (with the ECS echo when the query had ECS) always fits: its
  // space is reserved before anything else is written.
  Response(std::span<std::uint8_t> out, std::size_t limit, const ParsedQuery& q) noexcept
      : w_(out.data(), std::min(limit, out.size()) - (q.edns ? optSize(q) : 0)),
        fullLimit_(std::min(limit, out.size())),
        edns_(q.edns),
        query_(q) {}
  static std::size_t optSize(const ParsedQuery& q) noexcept {
    return kOptSize + (q.ecs ? 8 + (q.ecsSource + 7u) / 8u : 0);
  }
  void setEcsScope(std::uint8_t scope) noexcept { ecsScope_ = scope; }

  void header(const ParsedQuery& q) noexcept {
    w_.u16(q.id);
    flags_ =
        static_cast<std::uint16_t>(dns::kFlagQR | (q.flags & (dns::kOpcodeMask | dns::kFlagRD)));
    w_.u16(0);  // flags, patched in finish()
    w_.u16(0);  // qdcount
    w_.u16(0);
    w_.u16(0);
    w_.u16(0);
  }
  void question(const ParsedQuery& q) noexcept {
    w_.bytes(q.qnameRaw.span());
    w_.u16(q.qtype);
    w_.u16(q.qclass);
    qd_ = 1;
    comp_.addWritten(w_.data(), dns::kHeaderSize);
  }

  // Adds a whole RRset to `section` (0 answer, 1 authority, 2 additional), or
  // nothing when it does not fit. `ttl` overrides the stored TTL when set.
  bool add(int section, Owner owner, const RRset& set, std::uint16_t rrclass = dns::kClassIN,
           std::uint32_t ttl = 0xFFFFFFFF) noexcept {
    if (stopped_) return false;
    const std::size_t mark = w_.size();
    const auto* base = reinterpret_cast<const std::uint8_t*>(set.bytes.data());
    for (const auto& rd : set.rrs) {
      if (owner.isQname)
        w_.u16(kQnamePointer);
      else
        comp_.write(w_, owner.name);
      w_.u16(set.type);
      w_.u16(rrclass);
      w_.u32(ttl == 0xFFFFFFFF ? set.ttl : ttl);
      const std::size_t rdlenAt = w_.size();
      w_.u16(0);
      const std::uint8_t* rdata = base + rd.offset;
      std::size_t pos = 0;
      for (std::uint8_t k = 0; k < rd.nameCount; ++k) {
        const std::size_t at = rd.namePos[k];
        w_.bytes({rdata + pos, at - pos});
        const std::size_t len = nameLength(rdata + at, rd.length - at);
        comp_.write(w_, {rdata + at, len});
        pos = at + len;
      }
      w_.bytes({rdata + pos, rd.length - pos});
      if (!w_.ok()) break;
      w_.patch16(rdlenAt, static_cast<std::uint16_t>(w_.size() - rdlenAt - 2));
    }
    if (!w_.ok()) {
      w_.truncate(mark);
      comp_.truncate(mark);
      return false;
    }
    counts_[section] = static_cast<std::uint16_t>(counts_[section] + set.rrs.size());
    return true;
  }
  // As add(), but a record that does not fit truncates the message (TC=1) and
  // nothing more is added: for data the client must see whole.
  bool addRequired(int section, Owner owner, const RRset& set,
                   std::uint32_t ttl = 0xFFFFFFFF) noexcept {
    if (add(section, owner, set, dns::kClassIN, ttl)) return true;
    truncated_ = true;
    stopped_ = true;
    return false;
  }
  // One record with raw RDATA (pool answers). False when it does not fit.
  bool addRecord(int section, Owner owner, std::uint16_t type, std::uint32_t ttl,
                 std::span<const std::uint8_t> rdata, bool rdataIsName) noexcept {
    if (stopped_) return false;
    const std::size_t mark = w_.size();
    if (owner.isQname)
      w_.u16(kQnamePointer);
    else
      comp_.write(w_, owner.name);
    w_.u16(type);
    w_.u16(dns::kClassIN);
    w_.u32(ttl);
    const std::size_t rdlenAt = w_.size();
    w_.u16(0);
    if (rdataIsName)
      comp_.write(w_, rdata);
    else
      w_.bytes(rdata);
    if (!w_.ok()) {
      w_.truncate(mark);
      comp_.truncate(mark);
      truncated_ = true;
      stopped_ = true;
      return false;
    }
    w_.patch16(rdlenAt, static_cast<std::uint16_t>(w_.size() - rdlenAt - 2));
    ++counts_[section];
    return true;
  }
  // Rolls back every answer record written after `mark` (a partial pool answer).
  std::size_t mark() const noexcept { return w_.size(); }
  std::uint16_t answerCount() const noexcept { return counts_[0]; }
  void rollbackAnswers(std::size_t mark, std::uint16_t count) noexcept {
    w_.truncate(mark);
    comp_.truncate(mark);
    counts_[0] = count;
  }

  void addAdditional(const RRset& set) noexcept {
    for (const auto& ref : set.additional) {
      const RRset& a = ref.node->rrsets[ref.rrsetIndex];
      add(2, Owner{false, name::asSpan(ref.node->name)}, a);
    }
  }

  std::size_t finish(std::uint16_t rcode, bool aa, bool dnssecOk) noexcept {
    std::uint16_t ar = counts_[2];
    if (edns_) {
      w_.setLimit(fullLimit_);
      w_.u8(0);
      w_.u16(T(Type::OPT));
      w_.u16(advertised_);
      w_.u32((static_cast<std::uint32_t>(rcode >> 4) << 24) | (dnssecOk ? dns::kEdnsDO : 0));
      if (query_.ecs) {  // RFC 7871 s7.2.1: echo FAMILY, SOURCE PREFIX and ADDRESS
        const std::size_t len = (query_.ecsSource + 7u) / 8u;
        w_.u16(static_cast<std::uint16_t>(4 + 4 + len));
        w_.u16(kOptionEcs);
        w_.u16(static_cast<std::uint16_t>(4 + len));
        w_.u16(query_.ecsFamily);
        w_.u8(query_.ecsSource);
        w_.u8(ecsScope_);
        w_.bytes({query_.ecsAddress, len});
      } else {
        w_.u16(0);
      }
      ++ar;
    }
    if (tsig_) {  // last record of the message (RFC 8945 5.1)
      w_.setLimit(fullLimit_);
      const std::size_t mark = w_.size();
      if (tsig::writeUnsigned(w_, *tsig_, tsigError_, tsig_->timeSigned)) {
        ++ar;
      } else {  // only over UDP with huge names: the client retries over TCP
        w_.truncate(mark);
        truncated_ = true;
      }
    }
    std::uint16_t flags = static_cast<std::uint16_t>(flags_ | (rcode & 0x0F));
    if (aa) flags |= dns::kFlagAA;
    if (truncated_) flags |= dns::kFlagTC;
    w_.patch16(2, flags);
    w_.patch16(4, qd_);
    w_.patch16(6, counts_[0]);
    w_.patch16(8, counts_[1]);
    w_.patch16(10, ar);
    return w_.ok() ? w_.size() : 0;
  }
  // An unsigned TSIG RR answering `req` goes last (error responses, RFC 8945
  // 5.3.2). `req` must outlive finish().
  void setTsig(const tsig::Record* req, dns::TsigError error) noexcept {
    tsig_ = req;
    tsigError_ = static_cast<std::uint16_t>(error);
  }
  void setAdvertised(std::uint16_t v) noexcept { advertised_ = v; }
  bool truncated() const noexcept { return truncated_; }

 private:
  Writer w_;
  Compressor comp_;
  std::size_t fullLimit_;
  bool edns_;
  bool truncated_ = false;
  bool stopped_ = false;
  std::uint16_t flags_ = 0;
  std::uint16_t qd_ = 0;
  std::uint16_t counts_[3] = {0, 0, 0};
  std::uint16_t advertised_ = 1232;
  const ParsedQuery& query_;
  std::uint8_t ecsScope_ = 0;
  const tsig::Record* tsig_ = nullptr;
  std::uint16_t tsigError_ = 0;
};

enum class Match : std::uint8_t { Exact, Wildcard, NXDomain, Referral };
struct Found {
  Match kind;
  const Node* node;
};

// RFC 1034 4.3.2 step 3 within one zone, with RFC 4592 wildcards: walk down
// from the apex; stop at a zone cut (unless it is a DS query for the cut
// itself, which the parent answers); a missing name is synthesized from the
// closest encloser's wildcard child if there is one.
Found lookup(const Zone& z, name::Span qname, std::uint16_t qtype) noexcept {
  std::uint8_t offs[128];
  const std::size_t n = name::labelOffsets(qname, offs);
  const Node* last = &z.apex();
  for (std::size_t depth = z.originLabels() + 1; depth <= n; ++depth) {
    const Node* node = z.find(qname.subspan(offs[n - depth]));
    if (!node) {
      std::uint8_t wild[dns::kMaxNameWire + 2];
      if (last->name.size() + 2 > dns::kMaxNameWire) return {Match::NXDomain, last};
      wild[0] = 1;
      wild[1] = '*';
      std::memcpy(wild + 2, last->name.data(), last->name.size());
      const Node* w = z.find({wild, last->name.size() + 2});
      if (w) return {Match::Wildcard, w};
      return {Match::NXDomain, last};
    }
    if (node->delegation && !(depth == n && qtype == T(Type::DS))) return {Match::Referral, node};
    last = node;
  }
  return {Match::Exact, last};
}

// An RRset to show for ANY (RFC 8482: one RRset is enough).
const RRset* pickForAny(const Node& node) noexcept {
  for (const auto& s : node.rrsets)
    if (s.type != T(Type::RRSIG) && s.type != T(Type::NSEC)) return &s;
  return nullptr;
}

struct Builder {
  const ServingSnapshot& snap;
  const ParsedQuery& q;
  Response& resp;
  QueryFacts& facts;
  const IpAddress& source;

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
        return done(2, false);
      case gslb::PoolOutcome::NoData:
        return negative(zone, 0);
      case gslb::PoolOutcome::Answer:
        break;
    }
    facts.outcome = Outcome::Answer;
    if (g.pools[static_cast<std::size_t>(pd.pool)].isCname) {
      resp.addRecord(0, owner, T(Type::CNAME), pd.ttl, name::asSpan(d.chosen->cname), true);
      return done(0, true);
    }
    const std::uint16_t type = q.qtype == T(Type::AAAA) ? T(Type::AAAA) : T(Type::A);
    const std::size_t mark = resp.mark();
    const std::uint16_t before = resp.answerCount();
    for (std::uint8_t i = 0; i < d.picked; ++i) {
      const IpAddress& a = d.members[i]->addr;
      if (!resp.addRecord(0, owner, type, pd.ttl, {a.bytes, a.size()}, false)) {
        resp.rollbackAnswers(mark, before);  // an RRset is cut whole
        return done(0, true);
      }
      facts.memberCell[i] = d.members[i]->cell;
    }
    facts.answered = d.picked;
    return done(0, true);
  }

  std::size_t negative(const Zone& z, std::uint16_t rcode) noexcept {
    resp.addRequired(1, Owner{false, name::asSpan(z.origin())}, z.soa(), z.negativeTtl());
    facts.outcome = rcode == 3 ? Outcome::NXDomain : Outcome::NoData;
    return done(rcode, true);
  }
  std::size_t done(std::uint16_t rcode, bool aa) noexcept {
    facts.rcode = rcode;
    facts.truncated = resp.truncated();
    return resp.finish(rcode, aa, q.dnssecOk);
  }
  // NS of the cut in authority, glue in additional. After a CNAME chain the
  // answer keeps AA=1: the CNAMEs are ours (RFC 1034 4.3.2 step 3b).
  std::size_t referral(const Node& cut, bool afterCname = false) noexcept {
    const RRset* ns = cut.find(T(Type::NS));
    facts.outcome = afterCname ? Outcome::Answer : Outcome::Referral;
    if (resp.addRequired(1, Owner{false, name::asSpan(cut.name)}, *ns)) {
      // In-domain glue must be complete or the message truncated (RFC 9471).
      for (const auto& ref : ns->additional)
        if (!resp.add(2, Owner{false, name::asSpan(ref.node->name)},
                      ref.node->rrsets[ref.rrsetIndex])) {
          resp.addRequired(2, Owner{false, name::asSpan(ref.node->name)},
                           ref.node->rrsets[ref.rrsetIndex]);
          break;
        }
    }
    return done(0, afterCname);
  }

  std::size_t run(const Zone& zone) noexcept {
    const std::uint16_t qtype = q.qtype;
    Found f = lookup(zone, q.qname.span(), qtype);
    Owner owner{true, q.qname.span()};
    const Node* visited[kMaxCnameHops + 1];
    int hops = 0;
    for (;;) {
      switch (f.kind) {
        case Match::NXDomain:
          return negative(zone, 3);
        case Match::Referral:  // after a CNAME: the chain stops at the cut
          return referral(*f.node, hops > 0);
        case Match::Exact:
        case Match::Wildcard:
          break;
      }
      const Node& node = *f.node;
      visited[hops] = &node;
      if (node.binding >= 0 && (qtype == T(Type::A) || qtype == T(Type::AAAA) ||
                                qtype == T(Type::CNAME) || qtype == T(Type::ANY)))
        return pool(zone, node, owner);
      const RRset* cname = node.find(T(Type::CNAME));
      // ANY matches the CNAME itself (RFC 1034 4.3.2 step 3a): not chased.
      if (cname && qtype != T(Type::CNAME) && qtype != T(Type::ANY)) {
        if (!resp.addRequired(0, owner, *cname)) return done(0, true);
        facts.outcome = Outcome::Answer;
        name::Span target = name::asSpan(cname->target);
        if (hops + 1 > kMaxCnameHops || !name::isSubdomain(target, name::asSpan(zone.origin())))
          return done(0, true);  // out-of-zone target: the resolver follows it
        f = lookup(zone, target, qtype);
        if (f.kind == Match::Exact || f.kind == Match::Wildcard) {
          for (int i = 0; i <= hops; ++i)
            if (visited[i] == f.node) return done(0, true);  // loop: stop here
        }
        owner = Owner{false, target};
        ++hops;
        continue;
      }
      const RRset* set = qtype != T(Type::ANY) ? node.find(qtype)
                         : cname               ? cname
                                               : pickForAny(node);
      if (!set) {
        if (hops > 0) {  // NODATA at the end of a chain: keep NOERROR, add SOA
          resp.add(1, Owner{false, name::asSpan(zone.origin())}, zone.soa(), dns::kClassIN,
                   zone.negativeTtl());
          return done(0, true);
        }
        return negative(zone, 0);
      }
      facts.outcome = Outcome::Answer;
      if (resp.addRequired(0, owner, *set)) resp.addAdditional(*set);
      return done(0, true);
    }
  }

  // NOTAUTH, the request's TSIG answered unsigned with error BADKEY (RFC 8945
  // 5.2.2): not an answer. The TSIG was validated by parseQuery.
  std::size_t badKey(std::span<const std::uint8_t> msg) noexcept {
    facts.outcome = Outcome::BadKey;
    tsig::Record req;
    Reader r(msg, q.tsigAt);
    if (!tsig::read(r, req)) return done(1, false);
    resp.setTsig(&req, dns::TsigError::BadKey);
    return done(9, false);
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
      return done(5, false);
    }
    facts.outcome = Outcome::Answer;
    if (!resp.add(0, Owner{true, q.qname.span()}, *set, dns::kClassCH)) return done(2, false);
    return done(0, true);
  }
};

std::size_t responseLimit(const ServingSnapshot& snap, const ParsedQuery& q, Transport t,
                          std::size_t outSize) noexcept {
  std::size_t limit = dns::kMinUdpPayload;
  if (t == Transport::Tcp)
    limit = dns::kMaxMessage;
  else if (q.edns)
    limit =
        std::max<std::size_t>(dns::kMinUdpPayload, std::min(q.udpSize, snap.limits.maxUdpPayload));
  return std::min(limit, outSize);
}

}  // namespace

std::size_t answer(const ServingSnapshot& snap, std::span<const std::uint8_t> msg,
                   std::span<std::uint8_t> out, Transport transport, const IpAddress& source,
                   QueryFacts* factsOut) noexcept {
  QueryFacts localFacts;
  QueryFacts& facts = factsOut ? *factsOut : localFacts;
  facts = QueryFacts{};
  ParsedQuery q;
  const ParseVerdict v = parseQuery(msg, q);
  if (v == ParseVerdict::Drop || out.size() < dns::kMinUdpPayload) return 0;
  facts.qtype = q.qtype;
  facts.edns = q.edns;

  Response resp(out, responseLimit(snap, q, transport, out.size()), q);
  resp.setAdvertised(snap.limits.maxUdpPayload);
  resp.header(q);
  if (q.haveQuestion) resp.question(q);
  Builder b{snap, q, resp, facts, source};

  switch (v) {
    case ParseVerdict::FormErr:
      facts.outcome = Outcome::FormErr;
      return b.done(1, false);
    case ParseVerdict::NotImp:
      facts.outcome = Outcome::NotImp;
      return b.done(4, false);
    case ParseVerdict::BadVers:
      facts.outcome = Outcome::BadVers;
      return b.done(16, false);
    default:
      break;
  }
  // RFC 8945 5.2.2: a key we do not know is NOTAUTH/BADKEY whatever the
  // message asks. No key is configured yet, so every signed message gets it.
  if (q.tsigAt != 0) return b.badKey(msg);
  if (q.opcode != static_cast<std::uint8_t>(dns::Opcode::Query)) {
    // NOTIFY (we are no secondary) and UPDATE: not authorized for anyone (Knot).
    facts.outcome = Outcome::NotAuth;
    return b.done(9, false);
  }

  if (q.qclass == dns::kClassCH) return b.chaos();
  // QCLASS ANY is answered from the IN data, records in class IN (NSD, Knot).
  if (q.qclass != dns::kClassIN && q.qclass != dns::kClassANY) {
    facts.outcome = Outcome::Refused;
    return b.done(5, false);
  }
  switch (static_cast<Type>(q.qtype)) {
    case Type::AXFR:                      // zone transfers are not offered (yet)
      if (transport == Transport::Udp) {  // and never over UDP (RFC 5936 4.2; NSD, Knot)
        facts.outcome = Outcome::NotImp;
        return b.done(4, false);
      }
      [[fallthrough]];
    case Type::IXFR:
      facts.outcome = Outcome::Refused;
      return b.done(5, false);
    default:  // OPT, TSIG, TKEY, MAILA, MAILB look up like any type (NSD, Knot)
      break;
  }

  const zones::ZoneSet& zs = *snap.zones;
  const Zone* zone = zs.findZone(q.qname.span());
  if (!zone) {
    facts.outcome = Outcome::Refused;
    return b.done(5, false);
  }
  // DS lives on the parent side of a cut: if we also serve the parent, it answers.
  if (q.qtype == T(Type::DS) && zone->origin().size() == q.qname.len) {
    if (const Zone* parent = zs.findParent(*zone)) zone = parent;
  }
  return b.run(*zone);
}

}  // namespace geodns::server
