// libFuzzer target: the primary's transfer request path (server/xfr_out.h)
// on untrusted bytes: parse, TSIG, apex, ACL and key checks, then the whole
// stream pumped to its end. Two zones: open.test (127.0.0.1 may transfer
// unsigned) and key.test (127.0.0.1 with the TSIG key "k"); the seeds are
// AXFR and IXFR queries for them, one signed at kNow with that key.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "config/config.h"
#include "core/ip.h"
#include "server/serving.h"
#include "server/xfr_out.h"
#include "support/temp_dir.h"

namespace {

constexpr std::uint64_t kNow = 1800000000;  // the time the signed seed was signed at
// base64 of "secret-secret-secret-secret-32", as in tests/unit/server/xfr_out_test.cc.
constexpr const char* kSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy";

std::shared_ptr<const geodns::server::ServingSnapshot> snapshot() {
  using namespace geodns;
  static const test::TempDir dir;  // the files are read by buildSnapshot; kept for the run
  const std::string zone =
      "@ SOA ns h 7 3600 600 86400 300\n@ NS ns\n@ MX 10 mail\nns A 192.0.2.53\n"
      "mail AAAA 2001:db8::25\nwww CNAME @\ntxt TXT \"a\" \"b\"\n"
      "sub NS ns.sub\nns.sub A 192.0.2.54\n_x._tcp SRV 0 1 80 www\n";
  const std::string open = dir.write("open.zone", "$ORIGIN open.test.\n" + zone);
  const std::string keyed = dir.write("key.zone", "$ORIGIN key.test.\n" + zone);
  const std::string key = dir.write("k.key", kSecret);
  ErrorList errors;
  auto cfg = config::parseConfig(
      R"({"listen": ["127.0.0.1:53"],
          "tsig_keys": {"k": {"algorithm": "hmac-sha256", "secret_file": ")" +
          key + R"("}},
          "zones": [{"origin": "open.test", "file": ")" +
          open + R"(", "transfer": {"allow": ["127.0.0.1"]}},
                    {"origin": "key.test", "file": ")" +
          keyed + R"(", "transfer": {"allow": ["127.0.0.1"], "tsig": "k"}}]})",
      "fuzz-xfr-out.json", errors);
  if (!cfg) __builtin_trap();
  auto snap = server::buildSnapshot(*cfg, errors);
  if (!snap) __builtin_trap();
  return snap;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace geodns;
  static const auto snap = snapshot();
  static const IpAddress peer = *IpAddress::parse("127.0.0.1");
  server::XfrStart x = server::startTransfer(snap, {data, size}, peer, kNow);
  if (!x.session) {
    if (x.reply.size() < 12 && !x.reply.empty()) __builtin_trap();
    return 0;
  }
  if (!x.reply.empty()) __builtin_trap();  // a session or a reply, not both
  std::size_t messages = 0;
  for (auto m = x.session->next(); !m.empty(); m = x.session->next()) {
    if (m.size() < 12 || m.size() > 65535) __builtin_trap();
    if (++messages > 1000) __builtin_trap();  // the zone is a few records: a stream that never ends
  }
  return 0;
}
