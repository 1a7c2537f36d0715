#pragma once
// Helpers for the DNSSEC tests: keys made by ldns-keygen at test time, and an
// independent check of our records through ldns (presentation form, RRSIG
// verification, NSEC3 hashes). ldns stays inside dnssec_test_util.cc.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/wire/name.h"

namespace geodns::test::dnssec {

using Bytes = std::vector<std::uint8_t>;

// Runs `ldns-keygen -a <algorithm> [-k] [-b bits] <zone>` in `dir` and returns
// the path of the .private file. Fails the test when the tool fails.
std::string generateKey(const std::filesystem::path& dir, const std::string& algorithm,
                        const std::string& zone, bool ksk = false, int bits = 0);

// Runs a shell command, returns its stdout; `status` gets the exit code.
std::string run(const std::string& command, int* status = nullptr);

// Presentation name -> lowercase-insensitive wire (as given, case kept).
Bytes wireName(const std::string& text);
// RDATA of `type` from presentation text via ldns (case kept), e.g. "10 Mail.Example.TEST.".
Bytes rdata(const std::string& type, const std::string& text);
// The one RR of a file or line in presentation form, as {owner, type, rdata}.
struct WireRR {
  Bytes owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  Bytes rdata;
};
WireRR parseRR(const std::string& text);

// One RR in presentation form (ldns_rr2str).
std::string presentation(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint32_t ttl,
                         std::span<const std::uint8_t> rdata);

// Verifies `rrsigText` over the RRset given as presentation lines, against the
// DNSKEY presentation lines, at `when` (unix seconds), entirely with ldns
// (ldns_verify_rrsig_keylist_time). Returns "" when valid, else ldns's reason.
std::string verify(const std::vector<std::string>& rrsetText, const std::string& rrsigText,
                   const std::vector<std::string>& dnskeyText, std::int64_t when);

// ldns's NSEC3 hash of `name` (presentation) as base32hex, lowercase.
std::string ldnsNsec3Hash(const std::string& name, std::uint16_t iterations,
                          const std::vector<std::uint8_t>& salt);
// ldns's key tag of a DNSKEY RR in presentation form, and its DS (SHA-256) RDATA.
std::uint16_t ldnsKeyTag(const std::string& dnskeyText);
Bytes ldnsDsRdata(const std::string& dnskeyText);

// Reads a whole file.
std::string readText(const std::string& path);

}  // namespace geodns::test::dnssec
