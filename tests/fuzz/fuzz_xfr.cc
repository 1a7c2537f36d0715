// libFuzzer target: every parser of untrusted bytes that issue 15 adds, on
// the same input: TSIG location and request verification, the client-side
// response verifier, transfer queries, NOTIFY requests and answers.
#include <cstdint>
#include <span>

#include "core/wire/tsig.h"
#include "zones/notify.h"
#include "zones/transfer.h"

namespace {
const geodns::tsig::Keyring& keys() {
  static const geodns::tsig::Keyring ring = [] {
    geodns::tsig::Keyring r;
    std::string err;
    // The key of tests/data/tsig/vectors.txt, so seeds from there reach the MAC check.
    r.add(*geodns::tsig::makeKey("tsig-key", "hmac-sha256",
                                 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &err),
          &err);
    return r;
  }();
  return ring;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace geodns;
  const std::span<const std::uint8_t> msg{data, size};
  std::size_t at = 0;
  const auto placement = tsig::locate(msg, at);
  if (placement == tsig::Placement::Last && at >= size) __builtin_trap();
  const auto check = tsig::verifyRequest(msg, keys(), 1700000000);
  if (check.verdict == tsig::Verdict::Ok && (!check.key || check.mac.len == 0)) __builtin_trap();
  const std::uint8_t requestMac[32] = {};
  tsig::ResponseVerifier v(*keys().find(name::asSpan(*name::fromText("tsig-key"))), requestMac);
  v.verify(msg, 1700000000);
  v.verify(msg, 1700000000);

  zones::XfrQuery q;
  if (zones::parseXfrQuery(msg, q) == zones::XfrParse::Ok &&
      (q.request.question.data() < data ||
       q.request.question.data() + q.request.question.size() > data + size))
    __builtin_trap();
  zones::NotifyRequest n;
  zones::readNotify(msg, n);
  const std::uint8_t zone[] = {4, 't', 'e', 's', 't', 0};
  zones::matchNotifyReply(msg, 7, zone);
  return 0;
}
