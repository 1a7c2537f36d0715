#include "zones/transfer.h"

#include <algorithm>
#include <cstring>

#include "core/wire/dns.h"
#include "core/wire/types.h"

namespace geodns::zones {

namespace {

constexpr std::uint16_t T(dns::Type t) noexcept {
  return dns::toU16(t);
}

// The nodes of a zone as a span: nodes_[0] is the apex and the vector is
// contiguous. (Zone has no node accessor yet; the module refactor may add one.)
std::span<const Node> nodesOf(const Zone& zone) noexcept {
  return {&zone.apex(), zone.nodeCount()};
}

// Length of the uncompressed name at the start of `p` (at most `max` bytes),
// or 0 when it does not end in time.
std::size_t nameLength(const std::uint8_t* p, std::size_t max) noexcept {
  std::size_t i = 0;
  while (i < max) {
    const std::uint8_t len = p[i];
    if (len == 0) return i + 1;
    if (len > dns::kMaxLabel) return 0;
    i += std::size_t{1} + len;
  }
  return 0;
}

bool skipName(Reader& r) noexcept {
  name::NameBuf scratch;
  return name::read(r, scratch, false);
}

}  // namespace

// ---- requests ------------------------------------------------------------------

XfrParse parseXfrQuery(std::span<const std::uint8_t> msg, XfrQuery& out) noexcept {
  Reader r(msg);
  out.request.id = r.u16();
  out.request.flags = r.u16();
  const std::uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  if (!r.ok()) return XfrParse::FormErr;
  if (out.request.flags & dns::kFlagQR) return XfrParse::NotTransfer;
  if (qd != 1) return XfrParse::FormErr;
  const std::size_t qStart = r.pos();
  if (!name::read(r, out.zone, true)) return XfrParse::FormErr;
  out.qtype = r.u16();
  out.qclass = r.u16();
  if (!r.ok()) return XfrParse::FormErr;
  out.request.question = msg.subspan(qStart, r.pos() - qStart);
  if (out.qtype != T(dns::Type::AXFR) && out.qtype != T(dns::Type::IXFR))
    return XfrParse::NotTransfer;
  out.ixfrSerial.reset();
  out.request.edns = false;
  // Answer section: none expected; skipped. Authority: an IXFR's SOA.
  for (std::uint32_t i = 0; i < std::uint32_t{an} + ns + ar; ++i) {
    if (!skipName(r)) return XfrParse::FormErr;
    const std::uint16_t type = r.u16();
    r.skip(2);
    r.skip(4);
    const std::uint16_t rdlen = r.u16();
    const auto rdata = r.bytes(rdlen);
    if (!r.ok()) return XfrParse::FormErr;
    const bool authority = i >= an && i < std::uint32_t{an} + ns;
    if (authority && type == T(dns::Type::SOA) && !out.ixfrSerial) {
      // MNAME, RNAME (uncompressed or compressed), then the serial.
      Reader s(msg, static_cast<std::size_t>(rdata.data() - msg.data()));
      if (!skipName(s) || !skipName(s)) return XfrParse::FormErr;
      const std::uint32_t serial = s.u32();
      if (!s.ok() || s.pos() > static_cast<std::size_t>(rdata.data() - msg.data()) + rdlen)
        return XfrParse::FormErr;
      out.ixfrSerial = serial;
    }
    if (i >= std::uint32_t{an} + ns && type == T(dns::Type::OPT)) {
      out.request.edns = true;
    }
  }
  if (out.qtype == T(dns::Type::IXFR) && !out.ixfrSerial) return XfrParse::FormErr;
  return XfrParse::Ok;
}

// ---- building blocks ------------------------------------------------------------

RRset makeRRset(std::uint16_t type, std::uint32_t ttl, const std::vector<std::string>& rdatas) {
  RRset set;
  set.type = type;
  set.ttl = ttl;
  int namePos = -1;
  switch (static_cast<dns::Type>(type)) {
    case dns::Type::CNAME:
    case dns::Type::NS:
    case dns::Type::PTR:
      namePos = 0;
      break;
    case dns::Type::MX:
      namePos = 2;
      break;
    default:
      break;
  }
  for (const auto& rd : rdatas) {
    Rdata d;
    d.offset = static_cast<std::uint32_t>(set.bytes.size());
    d.length = static_cast<std::uint16_t>(rd.size());
    if (namePos >= 0 && rd.size() > static_cast<std::size_t>(namePos)) {
      d.nameCount = 1;
      d.namePos[0] = static_cast<std::uint16_t>(namePos);
    }
    set.bytes += rd;
    set.rrs.push_back(d);
  }
  return set;
}

std::vector<const Node*> boundNodes(const Zone& zone) {
  std::vector<const Node*> out;
  for (const Node& n : nodesOf(zone))
    if (n.binding >= 0) out.push_back(&n);
  return out;
}

// ---- the stream -------------------------------------------------------------------

AxfrStream::AxfrStream(const Zone& zone, const XfrRequest& request, XfrOptions options)
    : zone_(zone), request_(request), options_(std::move(options)) {
  options_.maxMessage = std::min<std::size_t>(options_.maxMessage, dns::kMaxMessage);
  buf_.resize(options_.maxMessage);
}

AxfrStream::AxfrStream(const Zone& zone, const XfrRequest& request, std::vector<ExtraRRset> extras,
                       XfrOptions options)
    : AxfrStream(zone, request, std::move(options)) {
  extras_ = std::move(extras);
  plan();
}

void AxfrStream::plan() {
  const Zone& zone = zone_;
  const std::span<const Node> nodes = nodesOf(zone);
  // Extras by node, checked.
  std::vector<std::vector<const ExtraRRset*>> byNode(nodes.size());
  for (const auto& e : extras_) {
    const std::string where = name::toText(name::asSpan(e.owner)) + " " + dns::typeToText(e.rrset.type);
    const Node* n = zone.find(name::asSpan(e.owner));
    if (!n || n->binding < 0) return fail(where + ": not a bound name of the zone");
    if (e.rrset.type == T(dns::Type::SOA) || e.rrset.type == T(dns::Type::OPT) ||
        e.rrset.type == T(dns::Type::TSIG))
      return fail(where + ": a bound name cannot hold this type");
    if (e.rrset.rrs.empty()) return fail(where + ": an empty RRset");
    for (const auto& d : e.rrset.rrs)
      if (std::size_t{d.offset} + d.length > e.rrset.bytes.size() ||
          (d.nameCount > 0 && d.namePos[0] >= d.length))
        return fail(where + ": RDATA outside its bytes");
    auto& list = byNode[static_cast<std::size_t>(n - nodes.data())];
    const bool clash = n->find(e.rrset.type) != nullptr ||
                       std::any_of(list.begin(), list.end(), [&](const ExtraRRset* o) {
                         return o->rrset.type == e.rrset.type;
                       });
    if (clash) return fail(where + ": a second RRset of this type at the name");
    const bool cname = e.rrset.type == T(dns::Type::CNAME) ||
                       std::any_of(list.begin(), list.end(), [](const ExtraRRset* o) {
                         return o->rrset.type == T(dns::Type::CNAME);
                       });
    if (cname && (!n->rrsets.empty() || !list.empty()))
      return fail(where + ": a CNAME must stand alone at its name");
    list.push_back(&e);
  }
  // The plan: SOA, every RRset node by node, SOA.
  const name::Span apex = name::asSpan(zone.origin());
  items_.push_back({apex, &zone.soa()});
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const name::Span owner = name::asSpan(nodes[i].name);
    for (const RRset& s : nodes[i].rrsets)
      if (!(i == 0 && s.type == T(dns::Type::SOA))) items_.push_back({owner, &s});
    for (const ExtraRRset* e : byNode[i]) items_.push_back({owner, &e->rrset});
  }
  items_.push_back({apex, &zone.soa()});
}

AxfrStream AxfrStream::soaOnly(const Zone& zone, const XfrRequest& request, XfrOptions options) {
  AxfrStream s(zone, request, std::move(options));
  s.items_.push_back({name::asSpan(zone.origin()), &zone.soa()});
  return s;
}

void AxfrStream::fail(std::string why) {
  error_ = std::move(why);
  done_ = true;
  items_.clear();
}

bool AxfrStream::writeRR(Writer& w, const Item& item, const Rdata& rd) {
  const RRset& set = *item.rrset;
  comp_.write(w, item.owner);
  w.u16(set.type);
  w.u16(dns::kClassIN);
  w.u32(set.ttl);
  const std::size_t rdlenAt = w.size();
  w.u16(0);
  const std::uint8_t* rdata = reinterpret_cast<const std::uint8_t*>(set.bytes.data()) + rd.offset;
  std::size_t pos = 0;
  if (dns::rdataNamesCompressible(set.type)) {
    for (std::uint8_t k = 0; k < rd.nameCount && k < 2; ++k) {
      const std::size_t at = rd.namePos[k];
      if (at < pos || at >= rd.length) break;
      const std::size_t len = nameLength(rdata + at, rd.length - at);
      if (len == 0) break;  // not a name after all: copied as it is below
      w.bytes({rdata + pos, at - pos});
      comp_.write(w, {rdata + at, len});
      pos = at + len;
    }
  }
  w.bytes({rdata + pos, rd.length - pos});
  if (!w.ok()) return false;
  w.patch16(rdlenAt, static_cast<std::uint16_t>(w.size() - rdlenAt - 2));
  return true;
}

std::span<const std::uint8_t> AxfrStream::next() {
  if (done_) return {};
  const bool first = messages_ == 0;
  const std::size_t optSize = first && request_.edns ? 11 : 0;
  if (options_.maxMessage <
      dns::kHeaderSize + request_.question.size() + optSize + options_.signReserve) {
    fail("messages of " + std::to_string(options_.maxMessage) + " bytes are too small");
    return {};
  }
  const std::size_t bodyLimit = options_.maxMessage - options_.signReserve - optSize;
  Writer w(buf_.data(), bodyLimit);
  comp_.reset();
  w.u16(request_.id);
  w.u16(static_cast<std::uint16_t>(dns::kFlagQR | dns::kFlagAA | (request_.flags & dns::kFlagRD)));
  w.u16(first ? 1 : 0);
  w.u16(0);  // ANCOUNT, patched below
  w.u16(0);
  w.u16(0);  // ARCOUNT: the OPT; the signer adds its TSIG
  if (first) {
    w.bytes(request_.question);
    comp_.addWritten(buf_.data(), dns::kHeaderSize);
  }
  std::size_t count = 0;
  while (item_ < items_.size()) {
    const Item& item = items_[item_];
    const std::size_t mark = w.size();
    if (!writeRR(w, item, item.rrset->rrs[rr_])) {
      w.truncate(mark);
      comp_.truncate(mark);
      if (count == 0) {
        fail("the record " + name::toText(item.owner) + " " + dns::typeToText(item.rrset->type) +
             " does not fit in one message");
        return {};
      }
      break;
    }
    ++count;
    if (++rr_ == item.rrset->rrs.size()) {
      rr_ = 0;
      ++item_;
    }
  }
  w.patch16(6, static_cast<std::uint16_t>(count));
  w.setLimit(options_.maxMessage - options_.signReserve);
  if (optSize) {  // RFC 5936 2.2.5: an OPT in the first message when the client sent one
    w.u8(0);
    w.u16(T(dns::Type::OPT));
    w.u16(request_.ednsPayload);
    w.u32(0);
    w.u16(0);
    w.patch16(10, 1);
  }
  w.setLimit(options_.maxMessage);
  if (options_.sign && !options_.sign(w)) {
    fail("signing message " + std::to_string(messages_ + 1) + " failed");
    return {};
  }
  ++messages_;
  records_ += count;
  if (item_ == items_.size()) done_ = true;
  return {buf_.data(), w.size()};
}

std::vector<std::vector<std::uint8_t>> axfrMessages(const Zone& zone, const XfrRequest& request,
                                                    std::vector<ExtraRRset> extras,
                                                    XfrOptions options, std::string* err) {
  AxfrStream s(zone, request, std::move(extras), std::move(options));
  std::vector<std::vector<std::uint8_t>> out;
  for (auto m = s.next(); !m.empty(); m = s.next()) out.emplace_back(m.begin(), m.end());
  if (s.failed()) {
    *err = s.error();
    return {};
  }
  return out;
}

}  // namespace geodns::zones
