// libFuzzer target: every parser of untrusted bytes that issue 15 adds, on
// the same input: TSIG location and request verification, the client-side
// response verifier, transfer queries, NOTIFY requests and answers, and the
// secondary side: the SOA answer and an AXFR stream (the input whole, then cut
// into messages).
#include <cstdint>
#include <span>
#include <string>

#include "core/wire/tsig.h"
#include "zones/notify.h"
#include "zones/transfer.h"
#include "zones/xfr_in.h"

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
// The reader's invariants after any input.
void checkReader(const geodns::zones::AxfrReader& r) {
  using S = geodns::zones::AxfrReader::State;
  if ((r.state() == S::Failed) == r.error().empty()) __builtin_trap();
  if (r.recordCount() + r.ignored() > 1000) __builtin_trap();
  if (r.state() == S::Done && r.recordCount() == 0) __builtin_trap();
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

  // The secondary side, with the ID of the seeds (the first two bytes would
  // do, but a fixed one lets the fuzzer find the mismatch branch as well).
  constexpr std::uint16_t kId = 0x7777;
  const std::string origin = *name::fromText("rt.test");
  std::string err;
  const auto serial = zones::readSoaAnswer(msg, kId, name::asSpan(origin), &err);
  if (!serial && err.empty()) __builtin_trap();
  {
    zones::AxfrReader r(name::asSpan(origin), kId, 1000);
    r.feed(msg);
    checkReader(r);
  }
  // The input as a stream: the low 3 bits of byte 0 say how many messages
  // come before the last (n), the next n big-endian u16 are their lengths,
  // and the remaining bytes are cut in that order, the last message taking
  // what is left.
  zones::AxfrReader r(name::asSpan(origin), kId, 1000);
  if (size > 0) {
    Reader in(msg, 1);
    const std::size_t cuts = data[0] & 7u;
    std::uint16_t lens[8] = {};
    for (std::size_t k = 0; k < cuts; ++k) lens[k] = in.u16();
    if (in.ok()) {
      std::size_t pos = in.pos();
      for (std::size_t k = 0; k <= cuts; ++k) {
        const std::size_t left = size - pos;
        const std::size_t len = k < cuts ? (lens[k] < left ? lens[k] : left) : left;
        r.feed(msg.subspan(pos, len));
        pos += len;
      }
    }
  }
  checkReader(r);
  if (r.state() == zones::AxfrReader::State::Done) {
    const std::string text = r.zoneText("fuzz");
    if (text.find("$ORIGIN rt.test.\n") == std::string::npos) __builtin_trap();
  }
  return 0;
}
