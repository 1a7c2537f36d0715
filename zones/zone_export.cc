#include "zones/zone_export.h"

#include <algorithm>
#include <span>

#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/types.h"
#include "core/wire/wire.h"
#include "zones/dnssec/keys.h"
#include "zones/dnssec/signer.h"
#include "zones/signing.h"
#include "zones/zone_file.h"

namespace geodns::zones {

namespace {

using dns::toU16;

bool canonicalLess(const Node* a, const Node* b) {
  return name::compareCanonical(name::asSpan(a->name), name::asSpan(b->name)) < 0;
}

// Names that own an NSEC: authoritative (not below a cut) with a static RRset.
bool ownsNsec(const Node& n) {
  return !n.occluded && !n.rrsets.empty();
}

std::span<const std::uint8_t> bytesOf(const std::string& s) {
  return name::asSpan(s);
}

}  // namespace

std::vector<NsecLink> nsecChain(const Zone& zone, ErrorList& errors) {
  std::vector<const Node*> owners;
  for (const Node& n : zone.nodes())
    if (ownsNsec(n)) owners.push_back(&n);
  std::sort(owners.begin(), owners.end(), canonicalLess);
  std::vector<NsecLink> chain;
  chain.reserve(owners.size());
  for (std::size_t i = 0; i < owners.size(); ++i) {
    const Node& n = *owners[i];
    NsecLink link;
    link.owner = n.name;
    link.next = owners[(i + 1) % owners.size()]->name;  // the last wraps to the apex
    bool full = false;
    for (const RRset& set : n.rrsets) {
      // At a cut the parent is authoritative for NS and DS only (RFC 4035 s2.3).
      if (n.delegation && set.type != toU16(dns::Type::NS) && set.type != toU16(dns::Type::DS))
        continue;
      full |= !link.types.add(set.type);
    }
    full |= !link.types.add(dnssec::kTypeRrsig);
    full |= !link.types.add(dnssec::kTypeNsec);
    if (full)
      errors.add("", name::toText(name::asSpan(n.name)) + ": more than " +
                         std::to_string(dnssec::TypeSet::kMax) + " types for one NSEC bitmap");
    chain.push_back(std::move(link));
  }
  return chain;
}

std::string nsecRdata(const NsecLink& link) {
  std::uint8_t buf[dns::kMaxNameWire + 34 * 256];
  Writer w(buf, sizeof buf);
  w.bytes(bytesOf(link.next));
  dnssec::writeTypeBitmap(w, link.types);
  return std::string(reinterpret_cast<const char*>(buf), w.size());
}

bool exportZone(const Zone& zone, std::string& out, ErrorList& errors) {
  const std::size_t errorsBefore = errors.size();
  const ZoneSigning* signing = zone.signing();
  const std::string zoneText = name::toText(name::asSpan(zone.origin()));

  std::vector<const Node*> nodes, dynamicOnly, partlyDynamic, wildcards;
  for (const Node& n : zone.nodes()) {
    const bool wildcard = n.name.size() >= 2 && n.name[0] == 1 && n.name[1] == '*';
    if (n.binding >= 0) (n.rrsets.empty() ? dynamicOnly : partlyDynamic).push_back(&n);
    if (n.rrsets.empty()) continue;  // empty non-terminal, or bound to a pool only
    nodes.push_back(&n);
    if (wildcard && !n.occluded) wildcards.push_back(&n);
  }
  for (auto* v : {&nodes, &dynamicOnly, &partlyDynamic, &wildcards})
    std::sort(v->begin(), v->end(), canonicalLess);
  std::vector<NsecLink> chain;
  if (signing) chain = nsecChain(zone, errors);
  if (errors.size() != errorsBefore) return false;

  // ---- the leading comments ----
  auto nameList = [](const std::vector<const Node*>& v) {
    std::string s;
    for (const Node* n : v) s += "\n;   " + name::toText(name::asSpan(n->name));
    return s;
  };
  out += "; geodnsd export-zone " + zoneText + " serial " + std::to_string(zone.serial()) + "\n";
  out += "; The static part of the zone as geodnsd serves it";
  out += signing ? " with DO.\n" : " (unsigned zone).\n";
  if (signing) {
    const dnssec::KeySet& keys = signing->keys();
    for (std::size_t i = 0; i < keys.size(); ++i)
      out += "; key " + std::to_string(keys.key(i).keyTag()) + " algorithm " +
             std::to_string(keys.key(i).algorithmNumber()) + " " + dnssec::roleName(keys.role(i)) +
             "\n";
    out +=
        "; RRSIGs are the ones geodnsd made at load. geodnsd denies existence online (compact\n"
        "; denial); the NSEC chain below is made for this export over the exported names and\n"
        "; signed now by the zone-signing key(s), as an offline signer would publish it.\n";
    if (!wildcards.empty())
      out +=
          "; Wildcards, signed for this export with their own owner (geodnsd signs each\n"
          "; expansion online at the name asked):" +
          nameList(wildcards) + "\n";
  }
  if (!dynamicOnly.empty())
    out += "; Left out: names answered by a GSLB pool per query (no static data):" +
           nameList(dynamicOnly) + "\n";
  if (!partlyDynamic.empty())
    out +=
        "; Names bound to a GSLB pool whose static records are exported (their pool answers "
        "are not" +
        std::string(signing ? ", nor in their NSEC bitmaps" : "") + "):" + nameList(partlyDynamic) +
        "\n";

  // ---- the records ----
  std::vector<std::span<const std::uint8_t>> rdatas;
  std::vector<std::uint8_t> sig;
  auto line = [&](name::Span owner, std::uint16_t type, std::uint32_t ttl,
                  std::span<const std::uint8_t> rdata) {
    out += recordText(owner, type, ttl, rdata);
    out += '\n';
  };
  // Signs an RRset now with every zone-signing key and writes the RRSIGs.
  auto signNow = [&](name::Span owner, std::uint16_t type, std::uint32_t ttl) {
    dnssec::RRsetView view;
    view.owner = owner;
    view.type = type;
    view.ttl = ttl;
    view.rdatas = rdatas;
    for (const auto& o : signing->online()) {
      const dnssec::SignStatus st = o.signer->signWith(view, o.signer->window(), sig);
      if (st != dnssec::SignStatus::Ok) {
        errors.add("", "signing " + name::toText(owner) + " " + dns::typeToText(type) + ": " +
                           dnssec::signStatusText(st));
        return;
      }
      line(owner, dnssec::kTypeRrsig, ttl, sig);
    }
  };
  auto writeSet = [&](const Node& n, const RRset& set) {
    const name::Span owner = name::asSpan(n.name);
    rdatas.clear();
    for (const Rdata& rd : set.rrs) {
      rdatas.push_back(bytesOf(set.bytes).subspan(rd.offset, rd.length));
      line(owner, set.type, set.ttl, rdatas.back());
    }
    const SigSet& sigs = set.sigs();
    for (const Rdata& rd : sigs.rrs)
      line(owner, sigs.type, sigs.ttl, bytesOf(sigs.bytes).subspan(rd.offset, rd.length));
    const bool authoritative = !n.delegation || set.type == toU16(dns::Type::DS);
    if (signing && set.wildcard && authoritative && set.sigs().rrs.empty())
      signNow(owner, set.type, set.ttl);
  };
  std::size_t link = 0;
  for (const Node* n : nodes) {
    const bool isApex = n == &zone.apex();
    if (isApex) writeSet(*n, zone.soa());
    for (const RRset& set : n->rrsets)
      if (!(isApex && &set == &zone.soa())) writeSet(*n, set);
    if (link < chain.size() && chain[link].owner == n->name) {
      const std::string rdata = nsecRdata(chain[link]);
      rdatas.assign(1, bytesOf(rdata));
      line(name::asSpan(n->name), dnssec::kTypeNsec, zone.negativeTtl(), rdatas[0]);
      signNow(name::asSpan(n->name), dnssec::kTypeNsec, zone.negativeTtl());
      ++link;
    }
  }
  if (link != chain.size())
    errors.add("", "zone " + zoneText + ": " + std::to_string(chain.size() - link) +
                       " NSEC record(s) not placed (internal error)");
  return errors.size() == errorsBefore;
}

}  // namespace geodns::zones
