#include "unit/zones/dnssec/dnssec_test_util.h"

// clang-format off
#include <stdbool.h>  // must precede ldns (FIELD-NOTES.md)
#include <ldns/ldns.h>
// clang-format on

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace geodns::test::dnssec {
namespace {

struct RrFree {
  void operator()(ldns_rr* r) const noexcept { ldns_rr_free(r); }
};
struct ListFree {
  void operator()(ldns_rr_list* l) const noexcept { ldns_rr_list_deep_free(l); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const noexcept { ldns_rdf_deep_free(r); }
};
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using ListPtr = std::unique_ptr<ldns_rr_list, ListFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

RrPtr rrFromText(const std::string& text) {
  ldns_rr* rr = nullptr;
  ldns_status s = ldns_rr_new_frm_str(&rr, text.c_str(), 3600, nullptr, nullptr);
  if (s != LDNS_STATUS_OK)
    throw std::runtime_error("ldns cannot parse '" + text + "': " + ldns_get_errorstr_by_id(s));
  return RrPtr(rr);
}

Bytes rdataOf(const ldns_rr* rr) {
  Bytes out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    out.insert(out.end(), ldns_rdf_data(f), ldns_rdf_data(f) + ldns_rdf_size(f));
  }
  return out;
}

}  // namespace

std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE_MESSAGE(p != nullptr, "cannot run: " << command);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = ::pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::string generateKey(const std::filesystem::path& dir, const std::string& algorithm,
                        const std::string& zone, bool ksk, int bits) {
  std::string cmd = "cd '" + dir.string() + "' && ldns-keygen -a " + algorithm;
  if (ksk) cmd += " -k";
  if (bits) cmd += " -b " + std::to_string(bits);
  cmd += " " + zone + " 2>&1";
  int status = 0;
  std::string out = run(cmd, &status);
  REQUIRE_MESSAGE(status == 0, "ldns-keygen failed (is ldnsutils installed?): " << out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  std::string path = (dir / (out + ".private")).string();
  REQUIRE_MESSAGE(std::filesystem::exists(path), "ldns-keygen wrote no " << path);
  return path;
}

Bytes wireName(const std::string& text) {
  ldns_rdf* r = nullptr;
  if (ldns_str2rdf_dname(&r, text.c_str()) != LDNS_STATUS_OK)
    throw std::runtime_error("bad name " + text);
  RdfPtr p(r);
  return Bytes(ldns_rdf_data(r), ldns_rdf_data(r) + ldns_rdf_size(r));
}

Bytes rdata(const std::string& type, const std::string& text) {
  return parseRR("x.test. 3600 IN " + type + " " + text).rdata;
}

WireRR parseRR(const std::string& text) {
  RrPtr rr = rrFromText(text);
  WireRR out;
  const ldns_rdf* o = ldns_rr_owner(rr.get());
  out.owner.assign(ldns_rdf_data(o), ldns_rdf_data(o) + ldns_rdf_size(o));
  out.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr.get()));
  out.ttl = ldns_rr_ttl(rr.get());
  out.rdata = rdataOf(rr.get());
  return out;
}

std::string presentation(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint32_t ttl,
                         std::span<const std::uint8_t> rd) {
  Bytes wire(owner.begin(), owner.end());
  auto put16 = [&](std::uint16_t v) {
    wire.push_back(static_cast<std::uint8_t>(v >> 8));
    wire.push_back(static_cast<std::uint8_t>(v));
  };
  put16(type);
  put16(1);
  put16(static_cast<std::uint16_t>(ttl >> 16));
  put16(static_cast<std::uint16_t>(ttl));
  put16(static_cast<std::uint16_t>(rd.size()));
  wire.insert(wire.end(), rd.begin(), rd.end());
  ldns_rr* rr = nullptr;
  std::size_t pos = 0;
  ldns_status s = ldns_wire2rr(&rr, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER);
  if (s != LDNS_STATUS_OK)
    throw std::runtime_error(std::string("ldns cannot read our RR: ") + ldns_get_errorstr_by_id(s));
  RrPtr p(rr);
  char* str = ldns_rr2str(rr);
  std::string text(str ? str : "");
  LDNS_FREE(str);
  while (!text.empty() && (text.back() == '\n')) text.pop_back();
  return text;
}

std::string verify(const std::vector<std::string>& rrsetText, const std::string& rrsigText,
                   const std::vector<std::string>& dnskeyText, std::int64_t when) {
  ListPtr rrset(ldns_rr_list_new());
  for (const auto& t : rrsetText) ldns_rr_list_push_rr(rrset.get(), rrFromText(t).release());
  ListPtr keys(ldns_rr_list_new());
  for (const auto& t : dnskeyText) ldns_rr_list_push_rr(keys.get(), rrFromText(t).release());
  RrPtr sig = rrFromText(rrsigText);
  ldns_status s = ldns_verify_rrsig_keylist_time(rrset.get(), sig.get(), keys.get(),
                                                 static_cast<time_t>(when), nullptr);
  return s == LDNS_STATUS_OK ? std::string() : std::string(ldns_get_errorstr_by_id(s));
}

std::string ldnsNsec3Hash(const std::string& nameText, std::uint16_t iterations,
                          const std::vector<std::uint8_t>& salt) {
  ldns_rdf* n = nullptr;
  REQUIRE(ldns_str2rdf_dname(&n, nameText.c_str()) == LDNS_STATUS_OK);
  RdfPtr np(n);
  RdfPtr h(
      ldns_nsec3_hash_name(n, 1, iterations, static_cast<std::uint8_t>(salt.size()), salt.data()));
  REQUIRE(h);
  char* s = ldns_rdf2str(h.get());
  std::string out(s);
  LDNS_FREE(s);
  // A one-label relative name: "<hash>." or "<hash>"; keep the label, lowercase.
  if (!out.empty() && out.back() == '.') out.pop_back();
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::uint16_t ldnsKeyTag(const std::string& dnskeyText) {
  return ldns_calc_keytag(rrFromText(dnskeyText).get());
}

Bytes ldnsDsRdata(const std::string& dnskeyText) {
  RrPtr key = rrFromText(dnskeyText);
  RrPtr ds(ldns_key_rr2ds(key.get(), LDNS_SHA256));
  REQUIRE(ds);
  return rdataOf(ds.get());
}

std::string readText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace geodns::test::dnssec
