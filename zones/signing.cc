#include "zones/signing.h"

#include "core/wire/dns.h"

namespace geodns::zones {

std::shared_ptr<ZoneSigning> ZoneSigning::load(name::Span origin, const config::DnssecConfig& cfg,
                                               const Clock& clock, ErrorList& errors,
                                               const dnssec::SigCacheLimits& cacheLimits) {
  const std::size_t before = errors.size();
  std::vector<std::unique_ptr<dnssec::Key>> keys;
  for (std::size_t i = 0; i < cfg.keys.size(); ++i) {
    const std::string where = i < cfg.keyWhere.size() ? cfg.keyWhere[i] : cfg.where;
    auto k = dnssec::Key::load(cfg.keys[i], origin, errors, where);
    if (k) keys.push_back(std::move(k));
  }
  if (cfg.keys.empty()) errors.add(cfg.where + "/keys", "no DNSSEC keys given");
  if (errors.size() != before) return nullptr;
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (std::equal(keys[i]->dnskeyRdata().begin(), keys[i]->dnskeyRdata().end(),
                     keys[j]->dnskeyRdata().begin(), keys[j]->dnskeyRdata().end()))
        errors.add(cfg.keyWhere[i], keys[i]->path() + ": the same key as " + keys[j]->path());
  if (errors.size() != before) return nullptr;

  auto s = std::make_shared<ZoneSigning>();
  s->keys_ = std::make_unique<dnssec::KeySet>(std::move(keys));
  s->keys_->checkTiming(clock.unixSeconds(), errors, cfg.where);
  if (errors.size() != before) return nullptr;
  s->policy_.validity_s = cfg.validity_s;
  s->policy_.refresh_s = cfg.refresh_s;
  s->denial_ = cfg.denial;
  s->clock_ = &clock;
  for (const dnssec::Key* k : s->keys_->keySigningKeys())
    s->ksks_.push_back(std::make_unique<dnssec::Signer>(*k, s->policy_, clock));
  for (const dnssec::Key* k : s->keys_->zoneSigningKeys()) {
    Online o;
    o.signer = std::make_unique<dnssec::Signer>(*k, s->policy_, clock);
    o.cache = std::make_unique<dnssec::SigCache>(cacheLimits);
    s->zsks_.push_back(std::move(o));
  }
  if (s->ksks_.empty() || s->zsks_.empty()) {
    errors.add(cfg.where + "/keys", "the keys give no key-signing or no zone-signing key");
    return nullptr;
  }
  return s;
}

std::vector<ParsedRR> ZoneSigning::apexRecords(std::uint32_t ttl) const {
  std::vector<ParsedRR> out;
  const std::string* keyFile = internFileName(keys_->key(0).path());
  auto add = [&](dns::Type type, const std::vector<std::vector<std::uint8_t>>& rdatas) {
    for (const auto& rd : rdatas) {
      ParsedRR rr;
      rr.owner = keys_->key(0).owner();
      rr.type = dns::toU16(type);
      rr.rrclass = dns::kClassIN;
      rr.ttl = ttl;
      rr.rdata.assign(rd.begin(), rd.end());
      rr.file = keyFile;
      out.push_back(std::move(rr));
    }
  };
  add(dns::Type::DNSKEY, keys_->dnskeyRdatas());
  add(dns::Type::CDS, keys_->cdsRdatas());
  add(dns::Type::CDNSKEY, keys_->cdnskeyRdatas());
  // SHA-1, no flags, no extra iterations, no salt: what the white lies use
  // (zones/dnssec/denial.h). Validators do not need it; tools and secondaries do.
  if (denial_ == config::Denial::Nsec3) add(dns::Type::NSEC3PARAM, {{1, 0, 0, 0, 0}});
  return out;
}

bool generatedDnssecType(std::uint16_t type) noexcept {
  switch (static_cast<dns::Type>(type)) {
    case dns::Type::DNSKEY:
    case dns::Type::CDS:
    case dns::Type::CDNSKEY:
    case dns::Type::RRSIG:
    case dns::Type::NSEC:
    case dns::Type::NSEC3:
    case dns::Type::NSEC3PARAM:
      return true;
    default:
      return false;
  }
}

}  // namespace geodns::zones
