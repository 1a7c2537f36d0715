#include "zones/dnssec/keys.h"

// ldns/common.h redefines `false` in C++ unless stdbool.h came first (FIELD-NOTES.md).
// clang-format off
#include <stdbool.h>  // must precede ldns: see the comment above
#include <ldns/ldns.h>
// clang-format on
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace geodns::zones::dnssec {

struct Key::Pkey {
  EVP_PKEY* key = nullptr;
  ~Pkey() { EVP_PKEY_free(key); }  // frees and cleanses the private scalar
};

namespace {

constexpr std::size_t kMaxKeyFile = 64 * 1024;

struct FileCloser {
  void operator()(FILE* f) const noexcept { std::fclose(f); }
};
struct RrFree {
  void operator()(ldns_rr* r) const noexcept { ldns_rr_free(r); }
};
struct KeyFree {
  void operator()(ldns_key* k) const noexcept { ldns_key_deep_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using LdnsKeyPtr = std::unique_ptr<ldns_key, KeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Holds a file's bytes and wipes them when done: the .private file's text is
// the private key.
class SecretBuffer {
 public:
  ~SecretBuffer() {
    if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
  }
  std::vector<char>& data() { return data_; }

 private:
  std::vector<char> data_;
};

// Reads a whole file; returns an error message or empty.
std::string readFile(const std::string& path, std::vector<char>& out) {
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) return std::string("cannot read: ") + std::strerror(errno);
  // Unbuffered: stdio's buffer would keep a copy of the key text we cannot wipe.
  std::setvbuf(f.get(), nullptr, _IONBF, 0);
  out.resize(kMaxKeyFile + 1);
  std::size_t n = std::fread(out.data(), 1, out.size(), f.get());
  if (std::ferror(f.get())) return std::string("cannot read: ") + std::strerror(errno);
  if (n > kMaxKeyFile) return "file too large for a key file";
  out.resize(n);
  return {};
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const char* algorithmText(unsigned alg) {
  switch (alg) {
    case 13:
      return "ECDSAP256SHA256";
    case 15:
      return "ED25519";
    case 5:
      return "RSASHA1";
    case 7:
      return "RSASHA1-NSEC3-SHA1";
    case 8:
      return "RSASHA256";
    case 10:
      return "RSASHA512";
    case 14:
      return "ECDSAP384SHA384";
    case 16:
      return "ED448";
    default:
      return "unknown";
  }
}

std::string unsupported(unsigned alg) {
  return "algorithm " + std::to_string(alg) + " (" + algorithmText(alg) +
         ") is not supported; use 13 (ECDSAP256SHA256) or 15 (ED25519)";
}

// "YYYYMMDDHHMMSS" (UTC) -> unix seconds, or -1.
std::int64_t parseBindTime(std::string_view v) {
  if (v.size() != 14 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  auto num = [&](std::size_t at, std::size_t n) {
    int x = 0;
    for (std::size_t i = 0; i < n; ++i) x = x * 10 + (v[at + i] - '0');
    return x;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(8, 2);
  tm.tm_min = num(10, 2);
  tm.tm_sec = num(12, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return -1;
  return static_cast<std::int64_t>(timegm(&tm));
}

// Reads the "Algorithm:" number and the BIND timing lines of a .private file.
// Only these fields are looked at; the key lines are left to ldns.
std::string scanPrivate(std::string_view text, unsigned& alg, KeyTiming& timing) {
  alg = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view field = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (field == "Algorithm") {
      unsigned a = 0;
      std::size_t i = 0;
      while (i < value.size() && value[i] >= '0' && value[i] <= '9' && a < 1000)
        a = a * 10 + static_cast<unsigned>(value[i++] - '0');
      if (i == 0) return "bad Algorithm line";
      alg = a;
      continue;
    }
    std::int64_t* slot = nullptr;
    if (field == "Publish") slot = &timing.publish;
    if (field == "Activate") slot = &timing.activate;
    if (field == "Inactive") slot = &timing.inactive;
    if (field == "Delete") slot = &timing.remove;
    if (!slot) continue;
    std::size_t end = value.find_first_of(" \t");
    std::int64_t t = parseBindTime(value.substr(0, end));
    if (t < 0) return std::string(field) + ": bad time (want YYYYMMDDHHMMSS)";
    *slot = t;
  }
  if (alg == 0) return "no Algorithm line (not a BIND private key file)";
  return {};
}

std::vector<std::uint8_t> rdataOf(const ldns_rr* rr) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    const std::uint8_t* d = ldns_rdf_data(f);
    out.insert(out.end(), d, d + ldns_rdf_size(f));
  }
  return out;
}

// Parses the one DNSKEY record of a .key file (comment lines start with ';').
std::string parseKeyFile(const std::vector<char>& text, RrPtr& out) {
  std::string_view all(text.data(), text.size());
  std::size_t pos = 0;
  while (pos < all.size()) {
    std::size_t eol = all.find('\n', pos);
    if (eol == std::string_view::npos) eol = all.size();
    std::string line(all.substr(pos, eol - pos));
    pos = eol + 1;
    std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == ';') continue;
    ldns_rr* rr = nullptr;
    ldns_status s = ldns_rr_new_frm_str(&rr, line.c_str(), 3600, nullptr, nullptr);
    if (s != LDNS_STATUS_OK)
      return std::string("cannot parse the DNSKEY record: ") + ldns_get_errorstr_by_id(s);
    if (out) {
      ldns_rr_free(rr);
      return "more than one record in a .key file";
    }
    out.reset(rr);
  }
  if (!out) return "no DNSKEY record in the file";
  return {};
}

// DER ECDSA signature -> the fixed 64-byte r||s of RFC 6605 s4.
bool derToRaw(const std::uint8_t* der, std::size_t len, std::uint8_t* out) {
  const unsigned char* p = der;
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> s(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  if (!s) return false;
  const BIGNUM* r = nullptr;
  const BIGNUM* sv = nullptr;
  ECDSA_SIG_get0(s.get(), &r, &sv);
  return BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(sv, out + 32, 32) == 32;
}

}  // namespace

const char* roleName(KeyRole role) noexcept {
  switch (role) {
    case KeyRole::Zsk:
      return "ZSK";
    case KeyRole::Ksk:
      return "KSK";
    case KeyRole::Csk:
      return "CSK";
  }
  return "?";
}

std::uint16_t keyTag(std::span<const std::uint8_t> rdata) noexcept {
  std::uint32_t ac = 0;
  for (std::size_t i = 0; i < rdata.size(); ++i)
    ac += (i & 1) ? rdata[i] : static_cast<std::uint32_t>(rdata[i]) << 8;
  ac += (ac >> 16) & 0xFFFF;
  return static_cast<std::uint16_t>(ac & 0xFFFF);
}

Key::Key() : pkey_(std::make_unique<Pkey>()) {}
Key::~Key() = default;

std::unique_ptr<Key> Key::load(const std::string& privatePath, name::Span origin, ErrorList& errors,
                               std::string_view where) {
  auto fail = [&](const std::string& file, const std::string& msg) -> std::unique_ptr<Key> {
    if (where.empty())
      errors.add(file, msg);
    else
      errors.add(std::string(where), file + ": " + msg);
    return nullptr;
  };
  if (endsWith(privatePath, ".key"))
    return fail(privatePath,
                "is the public half of a key pair; name the .private file (the .key must be "
                "beside it)");
  if (!endsWith(privatePath, ".private"))
    return fail(privatePath, "a key file name must end in .private (BIND key pair format)");
  std::string keyPath = privatePath.substr(0, privatePath.size() - 8) + ".key";

  // The public half: owner, flags, algorithm, public key.
  std::vector<char> keyText;
  if (auto e = readFile(keyPath, keyText); !e.empty()) return fail(keyPath, e);
  RrPtr pub;
  if (auto e = parseKeyFile(keyText, pub); !e.empty()) return fail(keyPath, e);
  if (ldns_rr_get_type(pub.get()) != LDNS_RR_TYPE_DNSKEY || ldns_rr_rd_count(pub.get()) != 4)
    return fail(keyPath, "the record is not a DNSKEY");
  if (ldns_rr_get_class(pub.get()) != LDNS_RR_CLASS_IN) return fail(keyPath, "class is not IN");
  std::vector<std::uint8_t> dnskey = rdataOf(pub.get());
  if (dnskey.size() < 4) return fail(keyPath, "DNSKEY RDATA too short");
  const std::uint16_t flags = static_cast<std::uint16_t>((dnskey[0] << 8) | dnskey[1]);
  const unsigned alg = dnskey[3];
  if (dnskey[2] != 3) return fail(keyPath, "DNSKEY protocol is not 3 (RFC 4034 s2.1.2)");
  if (alg != 13 && alg != 15) return fail(keyPath, unsupported(alg));
  if (!(flags & kFlagZone)) return fail(keyPath, "DNSKEY flags lack the zone-key bit (256)");
  if (flags & kFlagRevoke) return fail(keyPath, "the key is revoked (flag 128)");
  const ldns_rdf* ownerRdf = ldns_rr_owner(pub.get());
  std::string owner(reinterpret_cast<const char*>(ldns_rdf_data(ownerRdf)),
                    ldns_rdf_size(ownerRdf));
  name::toLower(reinterpret_cast<std::uint8_t*>(owner.data()), owner.size());
  if (name::asView(name::asSpan(owner)) != name::asView(origin))
    return fail(keyPath, "key owner " + name::toText(name::asSpan(owner)) +
                             " does not match the zone " + name::toText(origin));

  // The private half, parsed by ldns from our own (wiped) copy of the file.
  SecretBuffer secret;
  if (auto e = readFile(privatePath, secret.data()); !e.empty()) return fail(privatePath, e);
  unsigned privAlg = 0;
  KeyTiming timing;
  if (auto e = scanPrivate({secret.data().data(), secret.data().size()}, privAlg, timing);
      !e.empty())
    return fail(privatePath, e);
  if (privAlg != 13 && privAlg != 15) return fail(privatePath, unsupported(privAlg));
  if (privAlg != alg)
    return fail(privatePath, "algorithm " + std::to_string(privAlg) + " differs from the .key's " +
                                 std::to_string(alg));
  if (secret.data().empty()) return fail(privatePath, "empty file");
  FilePtr mem(fmemopen(secret.data().data(), secret.data().size(), "r"));
  if (!mem) return fail(privatePath, std::string("cannot read: ") + std::strerror(errno));
  std::setvbuf(mem.get(), nullptr, _IONBF, 0);
  ldns_key* rawKey = nullptr;
  int line = 0;
  ldns_status s = ldns_key_new_frm_fp_l(&rawKey, mem.get(), &line);
  mem.reset();
  LdnsKeyPtr lkey(rawKey);
  if (s != LDNS_STATUS_OK || !lkey || !ldns_key_evp_key(lkey.get()))
    return fail(privatePath,
                std::string("no usable private key: ") +
                    (s != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(s) : "no key material"));

  // The private key must be the partner of the .key's public key.
  ldns_key_set_flags(lkey.get(), flags);
  RrPtr derived(ldns_key2rr(lkey.get()));
  if (!derived || ldns_rr_rd_count(derived.get()) != 4 ||
      ldns_rdf_compare(ldns_rr_rdf(derived.get(), 3), ldns_rr_rdf(pub.get(), 3)) != 0)
    return fail(privatePath, "the private key does not match the public key in " + keyPath);

  std::unique_ptr<Key> key(new Key());
  key->pkey_->key = ldns_key_evp_key(lkey.get());
  EVP_PKEY_up_ref(key->pkey_->key);
  lkey.reset();
  key->algorithm_ = static_cast<Algorithm>(alg);
  key->flags_ = flags;
  key->keyTag_ = dnssec::keyTag(dnskey);
  key->owner_ = std::move(owner);
  key->path_ = privatePath;
  key->timing_ = timing;
  key->dnskey_ = std::move(dnskey);

  // DS = SHA-256(owner | DNSKEY RDATA) (RFC 4034 s5.1.4, RFC 4509).
  std::vector<std::uint8_t> digestInput(key->owner_.begin(), key->owner_.end());
  digestInput.insert(digestInput.end(), key->dnskey_.begin(), key->dnskey_.end());
  std::uint8_t md[EVP_MAX_MD_SIZE];
  unsigned mdLen = 0;
  if (!EVP_Digest(digestInput.data(), digestInput.size(), md, &mdLen, EVP_sha256(), nullptr) ||
      mdLen != 32)
    return fail(privatePath, "SHA-256 failed");
  key->ds_ = {static_cast<std::uint8_t>(key->keyTag_ >> 8), static_cast<std::uint8_t>(key->keyTag_),
              static_cast<std::uint8_t>(alg), kDigestSha256};
  key->ds_.insert(key->ds_.end(), md, md + 32);

  // One signature now: proves the key works, and makes OpenSSL build its
  // provider-side copy of the key here rather than under concurrent workers.
  static constexpr std::uint8_t kProbe[] = {'g', 'e', 'o', 'd', 'n', 's'};
  std::uint8_t sig[kSignatureSize];
  if (key->sign(kProbe, sig) != kSignatureSize) return fail(privatePath, "test signature failed");
  return key;
}

std::size_t Key::sign(std::span<const std::uint8_t> data,
                      std::span<std::uint8_t> sig) const noexcept {
  if (sig.size() < kSignatureSize || !pkey_->key) return 0;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return 0;
  const bool ecdsa = algorithm_ == Algorithm::EcdsaP256Sha256;
  if (EVP_DigestSignInit(ctx.get(), nullptr, ecdsa ? EVP_sha256() : nullptr, nullptr, pkey_->key) !=
      1)
    return 0;
  std::uint8_t buf[160];  // a DER ECDSA-P256 signature is at most 72 bytes
  std::size_t len = sizeof buf;
  if (EVP_DigestSign(ctx.get(), buf, &len, data.data(), data.size()) != 1) return 0;
  if (ecdsa) return derToRaw(buf, len, sig.data()) ? kSignatureSize : 0;
  if (len != kSignatureSize) return 0;
  std::memcpy(sig.data(), buf, len);
  return len;
}

// ---- KeySet ----

KeySet::KeySet(std::vector<std::unique_ptr<Key>> keys) : keys_(std::move(keys)) {
  roles_.resize(keys_.size(), KeyRole::Csk);
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    bool sepSeen = false, nonSepSeen = false;
    for (const auto& k : keys_) {
      if (k->algorithm() != keys_[i]->algorithm()) continue;
      (k->sep() ? sepSeen : nonSepSeen) = true;
    }
    if (sepSeen && nonSepSeen) roles_[i] = keys_[i]->sep() ? KeyRole::Ksk : KeyRole::Zsk;
  }
}

std::unique_ptr<KeySet> KeySet::load(name::Span origin, const std::vector<std::string>& paths,
                                     ErrorList& errors, std::string_view where) {
  if (paths.empty()) {
    errors.add(std::string(where), "no DNSSEC keys given");
    return nullptr;
  }
  std::vector<std::unique_ptr<Key>> keys;
  bool ok = true;
  for (const auto& p : paths) {
    auto k = Key::load(p, origin, errors, where);
    if (!k) {
      ok = false;
      continue;
    }
    for (const auto& other : keys) {
      if (std::ranges::equal(other->dnskeyRdata(), k->dnskeyRdata())) {
        std::string msg = "the same key as " + other->path();
        if (where.empty())
          errors.add(p, msg);
        else
          errors.add(std::string(where), p + ": " + msg);
        ok = false;
      }
    }
    keys.push_back(std::move(k));
  }
  if (!ok) return nullptr;
  return std::make_unique<KeySet>(std::move(keys));
}

std::vector<const Key*> KeySet::keySigningKeys() const {
  std::vector<const Key*> out;
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (roles_[i] != KeyRole::Zsk) out.push_back(keys_[i].get());
  return out;
}

std::vector<const Key*> KeySet::zoneSigningKeys() const {
  std::vector<const Key*> out;
  for (std::size_t i = 0; i < keys_.size(); ++i)
    if (roles_[i] != KeyRole::Ksk) out.push_back(keys_[i].get());
  return out;
}

std::vector<std::vector<std::uint8_t>> KeySet::dnskeyRdatas() const {
  std::vector<std::vector<std::uint8_t>> out;
  for (const auto& k : keys_) out.emplace_back(k->dnskeyRdata().begin(), k->dnskeyRdata().end());
  return out;
}

std::vector<std::vector<std::uint8_t>> KeySet::cdsRdatas() const {
  std::vector<std::vector<std::uint8_t>> out;
  for (const Key* k : keySigningKeys()) out.emplace_back(k->dsRdata().begin(), k->dsRdata().end());
  return out;
}

std::vector<std::vector<std::uint8_t>> KeySet::cdnskeyRdatas() const {
  std::vector<std::vector<std::uint8_t>> out;
  for (const Key* k : keySigningKeys())
    out.emplace_back(k->dnskeyRdata().begin(), k->dnskeyRdata().end());
  return out;
}

void KeySet::checkTiming(std::int64_t now, ErrorList& errors, std::string_view where) const {
  auto stamp = [](std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return std::string(buf);
  };
  for (const auto& k : keys_) {
    const KeyTiming& t = k->timing();
    std::string msg;
    if (t.remove && t.remove <= now)
      msg = "the key was deleted at " + stamp(t.remove) + " (Delete:)";
    else if (t.inactive && t.inactive <= now)
      msg = "the key has been inactive since " + stamp(t.inactive) + " (Inactive:)";
    else if (t.publish && t.activate && t.publish > t.activate)
      // RFC 7583 3.1: a key is published before (or when) it becomes active;
      // one active before its DNSKEY may be seen would sign unverifiable data.
      msg = "the key is to be published (" + stamp(t.publish) + ", Publish:) after it becomes " +
            "active (" + stamp(t.activate) + ", Activate:)";
    else if (t.publish && t.publish > now)
      msg = "the key is not to be published until " + stamp(t.publish) + " (Publish:)";
    else if (t.activate && t.activate > now)
      msg = "the key is not active until " + stamp(t.activate) + " (Activate:)";
    if (msg.empty()) continue;
    if (where.empty())
      errors.add(k->path(), msg);
    else
      errors.add(std::string(where), k->path() + ": " + msg);
  }
}

}  // namespace geodns::zones::dnssec
