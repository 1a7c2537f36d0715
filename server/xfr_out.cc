#include "server/xfr_out.h"

#include "core/log.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "gslb/gslb.h"
#include "zones/serial.h"

namespace geodns::server {

namespace {

constexpr std::uint16_t kA = 1, kAAAA = 28, kCNAME = 5, kOPT = 41;

// The one message of a refused or failed transfer: header, the question, an
// OPT when the request had one, then the TSIG RFC 8945 5.3.2 asks for.
std::vector<std::uint8_t> errorReply(const zones::XfrQuery& q, dns::Rcode rcode,
                                     const tsig::RequestCheck* check, std::uint64_t now) {
  std::vector<std::uint8_t> buf(4096);
  Writer w(buf.data(), buf.size());
  const auto opcode = static_cast<std::uint16_t>(q.request.flags & dns::kOpcodeMask);
  w.u16(q.request.id);
  w.u16(static_cast<std::uint16_t>(dns::kFlagQR | opcode | (q.request.flags & dns::kFlagRD) |
                                   (dns::toU16(rcode) & dns::kRcodeMask)));
  w.u16(q.request.question.empty() ? 0 : 1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.bytes(q.request.question);
  std::uint16_t ar = 0;
  if (q.request.edns) {
    w.u8(0);
    w.u16(kOPT);
    w.u16(q.request.ednsPayload);
    w.u32(0);
    w.u16(0);
    w.patch16(10, ++ar);
  }
  if (check &&
      (check->verdict == tsig::Verdict::BadKey || check->verdict == tsig::Verdict::BadSig)) {
    if (tsig::writeUnsigned(w, check->record, static_cast<std::uint16_t>(check->error()),
                            check->record.timeSigned))
      w.patch16(10, ++ar);
  } else if (check && check->signsAnswer()) {
    auto signer = tsig::Signer::forResponse(*check->key, check->mac.span());
    signer.sign(w, now, check->error(), check->record.timeSigned);
  }
  buf.resize(w.size());
  return buf;
}

bool sameName(name::Span a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), reinterpret_cast<const std::uint8_t*>(b.data()));
}

}  // namespace

std::vector<zones::ExtraRRset> boundAnswers(const ServingSnapshot& snap, const zones::Zone& zone) {
  std::vector<zones::ExtraRRset> out;
  const gslb::Gslb& g = *snap.gslb;
  for (const zones::Node* node : zones::boundNodes(zone)) {
    const auto bi = static_cast<std::size_t>(node->binding);
    if (bi >= g.bindings.size()) continue;
    for (const std::uint16_t type : {kA, kAAAA}) {
      gslb::PoolQuery pq;
      pq.binding = static_cast<std::uint32_t>(node->binding);
      pq.client = gslb::Client{};  // no location: the policy's default
      pq.qtype = type;
      pq.qname = name::asSpan(node->name);
      pq.queryId = 0;
      gslb::PoolDecision pd;
      gslb::decidePool(g, pq, snap.health.get(), pd);
      if (pd.outcome != gslb::PoolOutcome::Answer || !pd.decision.chosen) continue;
      if (g.pools[static_cast<std::size_t>(pd.pool)].isCname) {
        out.push_back({std::string(node->name),
                       zones::makeRRset(kCNAME, pd.ttl, {pd.decision.chosen->cname})});
        break;  // a CNAME stands alone at its name
      }
      std::vector<std::string> rdatas;
      for (std::uint8_t i = 0; i < pd.decision.picked; ++i) {
        const IpAddress& a = pd.decision.members[i]->addr;
        if ((type == kA) != (a.family == 4)) continue;
        rdatas.emplace_back(reinterpret_cast<const char*>(a.bytes), a.size());
      }
      if (!rdatas.empty())
        out.push_back({std::string(node->name), zones::makeRRset(type, pd.ttl, rdatas)});
    }
  }
  return out;
}

std::span<const std::uint8_t> XfrSession::next() {
  if (!stream_) return {};
  auto m = stream_->next();
  if (m.empty() && stream_->failed())
    GEODNS_LOG_LIMITED(Error, "transfer: %s", stream_->error().c_str());
  return m;
}

XfrStart startTransfer(std::shared_ptr<const ServingSnapshot> snap,
                       std::span<const std::uint8_t> msg, const IpAddress& peer, std::uint64_t now,
                       std::size_t inProgress) {
  XfrStart out;
  zones::XfrQuery q;
  const zones::XfrParse parsed = zones::parseXfrQuery(msg, q);
  auto fail = [&](dns::Rcode rcode, const tsig::RequestCheck* check) {
    out.reply = errorReply(q, rcode, check, now);
    out.rcode = dns::toU16(rcode);
    return std::move(out);
  };
  if (parsed != zones::XfrParse::Ok)  // the engine said AXFR/IXFR: FormErr is all that is left
    return fail(dns::Rcode::FormErr, nullptr);

  // 1. Authentication before authorisation (NSD, Knot).
  static const tsig::Keyring kNoKeys;
  const tsig::RequestCheck check =
      tsig::verifyRequest(msg, snap->keyring ? *snap->keyring : kNoKeys, now);
  const bool verified = check.verdict == tsig::Verdict::Ok;
  const tsig::RequestCheck* signedBy = verified ? &check : nullptr;
  if (check.verdict == tsig::Verdict::FormErr) return fail(dns::Rcode::FormErr, nullptr);
  if (!verified && check.verdict != tsig::Verdict::Unsigned) return fail(check.rcode(), &check);

  // 2. The zone: QNAME must be the apex of one of ours, in class IN.
  const zones::Zone* zone = snap->zones->findZone(q.zone.span());
  const ServingSnapshot::ZoneRules* rules = snap->rulesFor(q.zone.span());
  if (!zone || !sameName(q.zone.span(), zone->origin()) || q.qclass != dns::kClassIN || !rules)
    return fail(dns::Rcode::Refused, signedBy);

  // 3. The zone's rules: a "transfer" block, the client in `allow`, and the key it names.
  const auto& t = rules->transfer;
  bool allowed = t.enabled && t.allow.allows(peer);
  if (allowed && !t.tsig.empty()) {
    const auto want = name::fromText(t.tsig);
    allowed = verified && want && sameName(name::asSpan(*want), check.key->name);
  }
  if (!allowed) {
    GEODNS_LOG_LIMITED(Warn, "transfer of %s refused for %s%s", name::toText(q.zone.span()).c_str(),
                       peer.str().c_str(), verified ? "" : " (unsigned)");
    return fail(dns::Rcode::Refused, signedBy);
  }
  if (inProgress >= snap->limits.maxTransfers) {
    GEODNS_LOG_LIMITED(
        Warn, "transfer of %s refused for %s: %zu transfers in progress (limits.max_transfers)",
        name::toText(q.zone.span()).c_str(), peer.str().c_str(), inProgress);
    return fail(dns::Rcode::Refused, signedBy);
  }

  // 4. The stream, every message signed when the request was.
  auto session = std::make_unique<XfrSession>();
  XfrSession& s = *session;
  s.snap_ = std::move(snap);
  s.now_ = now;
  // The caller's buffer goes away (the TCP input is consumed): keep the question.
  s.request_.assign(msg.begin(), msg.end());
  if (!q.request.question.empty())
    q.request.question = std::span<const std::uint8_t>(
        s.request_.data() + (q.request.question.data() - msg.data()), q.request.question.size());
  zones::XfrOptions opt;
  if (verified) {
    s.signer_ = tsig::Signer::forResponse(*check.key, check.mac.span());
    opt.signReserve = s.signer_->reserve();
    opt.sign = [&s](Writer& w) { return s.signer_->sign(w, s.now_); };
  }
  const bool current = q.ixfrSerial && zones::compareSerial(*q.ixfrSerial, zone->serial()) !=
                                           zones::SerialOrder::Less;
  if (current)
    s.stream_.emplace(zones::AxfrStream::soaOnly(*zone, q.request, std::move(opt)));
  else
    s.stream_.emplace(*zone, q.request, boundAnswers(*s.snap_, *zone), std::move(opt));
  GEODNS_LOG_INFO("transfer of %s (serial %u%s) to %s%s", name::toText(q.zone.span()).c_str(),
                  static_cast<unsigned>(zone->serial()), current ? ", current: SOA only" : "",
                  peer.str().c_str(), verified ? " (TSIG)" : "");
  out.session = std::move(session);
  return out;
}

}  // namespace geodns::server
