// TSIG (RFC 8945) against messages signed by real implementations: dnspython,
// dig (BIND) and kdig (Knot), captured by tests/data/tsig/make_vectors.py
// into tests/data/tsig/vectors.txt. The live interop in both directions
// (dnspython verifying what we sign) is tests/integration/test_transfer_interop.py.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/wire/tsig.h"

using namespace geodns;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes fromHex(const std::string& h) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    b.push_back(static_cast<std::uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return b;
}

// vectors["dnspython-sha256"]["wire"] = "1234..."
using Vectors = std::map<std::string, std::map<std::string, std::string>>;
const Vectors& vectors() {
  static const Vectors v = [] {
    Vectors out;
    std::ifstream in(std::string(GEODNS_TEST_DATA) + "/data/tsig/vectors.txt");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream s(line);
      std::string vec, field, value;
      s >> vec >> field >> value;
      out[vec][field] = value;
    }
    return out;
  }();
  return v;
}
Bytes wire(const std::string& vec, const std::string& field = "wire") {
  auto it = vectors().find(vec);
  REQUIRE_MESSAGE(it != vectors().end(), "missing vector " << vec);
  REQUIRE_MESSAGE(it->second.count(field), "missing field " << vec << " " << field);
  return fromHex(it->second.at(field));
}
std::uint64_t nowOf(const std::string& vec) {
  return std::stoull(vectors().at(vec).at("now"));
}

// The secrets of make_vectors.py.
Bytes range(int from, int to) {
  Bytes b;
  for (int i = from; i < to; ++i) b.push_back(static_cast<std::uint8_t>(i));
  return b;
}
tsig::Key key(const char* name, tsig::Algorithm a, Bytes secret, std::size_t minMac = 0) {
  tsig::Key k;
  k.name = *name::fromText(name);
  k.algorithm = a;
  k.secret = std::move(secret);
  k.minMac = minMac;
  return k;
}
tsig::Keyring testKeys(std::size_t minMac = 0) {
  tsig::Keyring ring;
  std::string err;
  ring.add(key("tsig-key", tsig::Algorithm::HmacSha256, range(0, 32), minMac), &err);
  ring.add(key("sha512-key", tsig::Algorithm::HmacSha512, range(64, 128)), &err);
  ring.add(key("sha1-key", tsig::Algorithm::HmacSha1, range(0, 20)), &err);
  ring.add(key("sha224-key", tsig::Algorithm::HmacSha224, range(0, 28)), &err);
  ring.add(key("sha384-key", tsig::Algorithm::HmacSha384, range(0, 48)), &err);
  return ring;
}

std::size_t tsigOffset(const Bytes& m) {
  std::size_t at = 0;
  REQUIRE(tsig::locate(m, at) == tsig::Placement::Last);
  return at;
}

// Offsets inside the TSIG RR of a message whose TSIG owner and algorithm
// names are uncompressed.
struct TsigLayout {
  std::size_t rdlen, time, macSize, mac, originalId;
};
TsigLayout layout(const Bytes& m) {
  std::size_t at = tsigOffset(m);
  tsig::Record rec;
  Reader r(m, at);
  REQUIRE(tsig::read(r, rec));
  TsigLayout l;
  l.rdlen = at + rec.key.len + 8;
  l.time = l.rdlen + 2 + rec.algorithm.len;
  l.macSize = l.time + 8;
  l.mac = l.macSize + 2;
  l.originalId = l.mac + rec.mac.size();
  return l;
}

// The message with its TSIG MAC replaced by `mac` (sizes adjusted).
Bytes withMac(Bytes m, const Bytes& mac) {
  const TsigLayout l = layout(m);
  const std::size_t oldLen = (std::size_t{m[l.macSize]} << 8) | m[l.macSize + 1];
  m.erase(m.begin() + static_cast<std::ptrdiff_t>(l.mac),
          m.begin() + static_cast<std::ptrdiff_t>(l.mac + oldLen));
  m.insert(m.begin() + static_cast<std::ptrdiff_t>(l.mac), mac.begin(), mac.end());
  m[l.macSize] = static_cast<std::uint8_t>(mac.size() >> 8);
  m[l.macSize + 1] = static_cast<std::uint8_t>(mac.size());
  const std::size_t rdlen = ((std::size_t{m[l.rdlen]} << 8) | m[l.rdlen + 1]) - oldLen + mac.size();
  m[l.rdlen] = static_cast<std::uint8_t>(rdlen >> 8);
  m[l.rdlen + 1] = static_cast<std::uint8_t>(rdlen);
  return m;
}
Bytes macOf(const Bytes& m) {
  const TsigLayout l = layout(m);
  return Bytes(m.begin() + static_cast<std::ptrdiff_t>(l.mac),
               m.begin() + static_cast<std::ptrdiff_t>(l.originalId));
}

const char* verdictName(tsig::Verdict v) {
  switch (v) {
    case tsig::Verdict::Unsigned:
      return "Unsigned";
    case tsig::Verdict::Ok:
      return "Ok";
    case tsig::Verdict::FormErr:
      return "FormErr";
    case tsig::Verdict::BadKey:
      return "BadKey";
    case tsig::Verdict::BadSig:
      return "BadSig";
    case tsig::Verdict::BadTime:
      return "BadTime";
    case tsig::Verdict::BadTrunc:
      return "BadTrunc";
  }
  return "?";
}

}  // namespace

TEST_CASE("TSIG: requests signed by dnspython, dig and kdig verify") {
  const tsig::Keyring ring = testKeys();
  for (const char* vec : {"dnspython-sha256", "dnspython-sha512", "dnspython-sha1",
                          "dnspython-sha224", "dnspython-sha384", "dnspython-forwarded",
                          "dnspython-uppercase-key", "dig-sha256", "kdig-sha512"}) {
    CAPTURE(std::string(vec));
    const Bytes m = wire(vec);
    const auto c = tsig::verifyRequest(m, ring, nowOf(vec));
    CHECK(std::string(verdictName(c.verdict)) == std::string("Ok"));
    REQUIRE(c.key);
    CHECK(c.key->name == *name::fromText(vectors().at(vec).at("key")));
    CHECK(c.mac.span().size() == tsig::macSize(c.key->algorithm));
    CHECK(Bytes(c.mac.span().begin(), c.mac.span().end()) == macOf(m));
    CHECK(c.rcode() == dns::Rcode::NoError);
    CHECK(c.signsAnswer());
  }
}

struct RequestCase {
  const char* name;
  std::function<Bytes(Bytes)> mutate;
  std::int64_t skew;  // added to the vector's time to make `now`
  std::size_t minMac;
  const char* verdict;
};

TEST_CASE("TSIG: what a request fails on, checked in RFC 8945 5.2 order") {
  auto flip = [](std::size_t at) {
    return [at](Bytes m) {
      m[at] ^= 0x01;
      return m;
    };
  };
  auto flipIn = [](std::size_t TsigLayout::*field, std::size_t plus) {
    return [field, plus](Bytes m) {
      m[layout(m).*field + plus] ^= 0x01;
      return m;
    };
  };
  auto keep = [](Bytes m) { return m; };
  auto truncateTo = [](std::size_t n) {
    return [n](Bytes m) {
      Bytes mac = macOf(m);
      mac.resize(n);
      return withMac(m, mac);
    };
  };
  const RequestCase cases[] = {
      {"as signed", keep, 0, 0, "Ok"},
      {"a bit of the question flipped", flip(14), 0, 0, "BadSig"},
      {"a bit of the MAC flipped", flipIn(&TsigLayout::mac, 5), 0, 0, "BadSig"},
      {"a bit of time signed flipped", flipIn(&TsigLayout::time, 5), 0, 0, "BadSig"},
      {"a bit of the original ID flipped", flipIn(&TsigLayout::originalId, 1), 0, 0, "BadSig"},
      // The MAC covers the original ID, not the ID: a forwarder may change it.
      {"the message ID changed", flip(1), 0, 0, "Ok"},
      {"300 s late: inside the fudge", keep, 300, 0, "Ok"},
      {"300 s early: inside the fudge", keep, -300, 0, "Ok"},
      {"301 s late", keep, 301, 0, "BadTime"},
      {"301 s early", keep, -301, 0, "BadTime"},
      {"stale and a bit flipped: the MAC is checked first", flip(14), 3600, 0, "BadSig"},
      {"truncated to 16 of 32 bytes, policy wants all", truncateTo(16), 0, 0, "BadTrunc"},
      {"truncated to 16 of 32 bytes, policy allows 16", truncateTo(16), 0, 16, "Ok"},
      {"truncated to 20, policy wants 24", truncateTo(20), 0, 24, "BadTrunc"},
      {"truncated and stale: time before truncation", truncateTo(16), 400, 16, "BadTime"},
      {"truncated below half the HMAC", truncateTo(15), 0, 0, "FormErr"},
      {"truncated and flipped",
       [&](Bytes m) { return flipIn(&TsigLayout::mac, 0)(truncateTo(16)(m)); }, 0, 16, "BadSig"},
      {"MAC longer than the HMAC",
       [](Bytes m) {
         Bytes mac = macOf(m);
         mac.push_back(0);
         return withMac(m, mac);
       },
       0, 0, "FormErr"},
      {"MAC size 0", truncateTo(0), 0, 0, "FormErr"},
      {"the TSIG RDATA cut short",
       [](Bytes m) {
         m.pop_back();
         return m;
       },
       0, 0, "FormErr"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    const Bytes m = c.mutate(wire("dnspython-sha256"));
    const auto ring = testKeys(c.minMac);
    const auto now =
        static_cast<std::uint64_t>(static_cast<std::int64_t>(nowOf("dnspython-sha256")) + c.skew);
    const auto got = tsig::verifyRequest(m, ring, now);
    CHECK(std::string(verdictName(got.verdict)) == std::string(c.verdict));
  }
}

TEST_CASE("TSIG: keys a request may not use") {
  const Bytes m = wire("dnspython-sha256");
  const std::uint64_t now = nowOf("dnspython-sha256");
  struct Case {
    const char* name;
    tsig::Keyring ring;
    const char* verdict;
  };
  std::string err;
  std::vector<Case> cases;
  cases.push_back({"an empty keyring", {}, "BadKey"});
  {
    tsig::Keyring r;
    r.add(key("other-key", tsig::Algorithm::HmacSha256, range(0, 32)), &err);
    cases.push_back({"an unknown key name", std::move(r), "BadKey"});
  }
  {
    tsig::Keyring r;
    r.add(key("tsig-key", tsig::Algorithm::HmacSha512, range(0, 32)), &err);
    cases.push_back({"the name known with another algorithm", std::move(r), "BadKey"});
  }
  {
    tsig::Keyring r;
    r.add(key("tsig-key", tsig::Algorithm::HmacSha256, range(1, 33)), &err);
    cases.push_back({"another secret", std::move(r), "BadSig"});
  }
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    const auto got = tsig::verifyRequest(m, c.ring, now);
    CHECK(std::string(verdictName(got.verdict)) == std::string(c.verdict));
    // An unknown key is answered even when the time is also wrong (5.2 order).
    const auto late = tsig::verifyRequest(m, c.ring, now + 86400);
    CHECK(std::string(verdictName(late.verdict)) == c.verdict);
  }
}

TEST_CASE("TSIG: where a TSIG may stand") {
  // A query with one additional record (the TSIG), as bytes to rearrange.
  const Bytes signedQ = wire("dnspython-sha256");
  const std::size_t at = tsigOffset(signedQ);
  const Bytes tsigRR(signedQ.begin() + static_cast<std::ptrdiff_t>(at), signedQ.end());
  const Bytes body(signedQ.begin(), signedQ.begin() + static_cast<std::ptrdiff_t>(at));
  const Bytes opt = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  auto counts = [](Bytes m, std::uint16_t an, std::uint16_t ar) {
    m[6] = 0;
    m[7] = static_cast<std::uint8_t>(an);
    m[10] = 0;
    m[11] = static_cast<std::uint8_t>(ar);
    return m;
  };
  auto cat = [](std::initializer_list<const Bytes*> parts) {
    Bytes out;
    for (const Bytes* p : parts) out.insert(out.end(), p->begin(), p->end());
    return out;
  };
  struct Case {
    const char* name;
    Bytes msg;
    tsig::Placement placement;
  };
  const Case cases[] = {
      {"last of the additional section", signedQ, tsig::Placement::Last},
      {"none", counts(body, 0, 0), tsig::Placement::None},
      {"before an OPT", counts(cat({&body, &tsigRR, &opt}), 0, 2), tsig::Placement::Malformed},
      {"after an OPT", counts(cat({&body, &opt, &tsigRR}), 0, 2), tsig::Placement::Last},
      {"twice", counts(cat({&body, &tsigRR, &tsigRR}), 0, 2), tsig::Placement::Malformed},
      {"in the answer section", counts(cat({&body, &tsigRR}), 1, 0), tsig::Placement::Malformed},
      {"a record count past the end", counts(signedQ, 0, 2), tsig::Placement::Malformed},
      {"a header only", Bytes(signedQ.begin(), signedQ.begin() + 12), tsig::Placement::Malformed},
      {"less than a header", Bytes(signedQ.begin(), signedQ.begin() + 5),
       tsig::Placement::Malformed},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::size_t off = 0;
    CHECK(tsig::locate(c.msg, off) == c.placement);
    const auto v = tsig::verifyRequest(c.msg, testKeys(), nowOf("dnspython-sha256")).verdict;
    if (c.placement == tsig::Placement::Malformed) CHECK(v == tsig::Verdict::FormErr);
    if (c.placement == tsig::Placement::None) CHECK(v == tsig::Verdict::Unsigned);
  }
}

TEST_CASE("TSIG: the rcode and TSIG error of each verdict (RFC 8945 5.2, 5.3.2)") {
  struct Case {
    tsig::Verdict v;
    dns::Rcode rcode;
    dns::TsigError error;
    bool signs;
  };
  const Case cases[] = {
      {tsig::Verdict::Unsigned, dns::Rcode::NoError, dns::TsigError::NoError, false},
      {tsig::Verdict::Ok, dns::Rcode::NoError, dns::TsigError::NoError, true},
      {tsig::Verdict::FormErr, dns::Rcode::FormErr, dns::TsigError::NoError, false},
      {tsig::Verdict::BadKey, dns::Rcode::NotAuth, dns::TsigError::BadKey, false},
      {tsig::Verdict::BadSig, dns::Rcode::NotAuth, dns::TsigError::BadSig, false},
      {tsig::Verdict::BadTime, dns::Rcode::NotAuth, dns::TsigError::BadTime, true},
      {tsig::Verdict::BadTrunc, dns::Rcode::NotAuth, dns::TsigError::BadTrunc, true},
  };
  for (const auto& c : cases) {
    CAPTURE(verdictName(c.v));
    tsig::RequestCheck rc;
    rc.verdict = c.v;
    CHECK(rc.rcode() == c.rcode);
    CHECK(rc.error() == c.error);
    CHECK(rc.signsAnswer() == c.signs);
  }
}

TEST_CASE("TSIG: our Signer produces dnspython's bytes") {
  const tsig::Keyring ring = testKeys();
  auto signInto = [](tsig::Signer& s, const Bytes& unsignedMsg, std::uint64_t now) {
    std::vector<std::uint8_t> buf(65535, 0xEE);  // garbage shows a missing write
    Writer w(buf.data(), buf.size());
    w.bytes(unsignedMsg);
    REQUIRE(s.sign(w, now));
    CHECK(w.size() <= unsignedMsg.size() + s.reserve());
    return Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
  };
  SUBCASE("requests, every algorithm") {
    for (const char* vec : {"dnspython-sha256", "dnspython-sha512", "dnspython-sha1",
                            "dnspython-sha224", "dnspython-sha384"}) {
      CAPTURE(std::string(vec));
      const tsig::Key* k = ring.find(name::asSpan(*name::fromText(vectors().at(vec).at("key"))));
      REQUIRE(k);
      auto s = tsig::Signer::forRequest(*k);
      CHECK(signInto(s, wire(vec, "unsigned"), nowOf(vec)) == wire(vec));
      CHECK(Bytes(s.lastMac().begin(), s.lastMac().end()) == macOf(wire(vec)));
    }
  }
  SUBCASE("a response covers the request MAC") {
    const tsig::Key* k = ring.find(name::asSpan(*name::fromText("tsig-key")));
    auto s = tsig::Signer::forResponse(*k, fromHex(vectors().at("response").at("mac")));
    CHECK(signInto(s, wire("response", "unsigned"), nowOf("response")) == wire("response"));
  }
  SUBCASE("a stream: each MAC covers the previous one (RFC 8945 5.3.1)") {
    const tsig::Key* k = ring.find(name::asSpan(*name::fromText("tsig-key")));
    auto s = tsig::Signer::forResponse(*k, fromHex(vectors().at("stream").at("mac")));
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      const auto n = std::to_string(i);
      CHECK(signInto(s, wire("stream", "unsigned" + n),
                     nowOf("stream") + static_cast<unsigned>(i)) == wire("stream", "wire" + n));
    }
    CHECK(s.signedCount() == 3);
  }
  SUBCASE("a message with no room for the TSIG is left unchanged") {
    const tsig::Key* k = ring.find(name::asSpan(*name::fromText("tsig-key")));
    auto s = tsig::Signer::forRequest(*k);
    const Bytes u = wire("dnspython-sha256", "unsigned");
    std::vector<std::uint8_t> buf(u.size() + 20);
    Writer w(buf.data(), buf.size());
    w.bytes(u);
    CHECK_FALSE(s.sign(w, 1700000000));
    CHECK(w.size() == u.size());
    CHECK(w.ok());
    CHECK(buf[11] == 0);  // ARCOUNT untouched
    CHECK(s.signedCount() == 0);
  }
}

TEST_CASE("TSIG: ResponseVerifier takes dnspython's answers and refuses tampered ones") {
  const tsig::Keyring ring = testKeys();
  const tsig::Key& k = *ring.find(name::asSpan(*name::fromText("tsig-key")));
  using R = tsig::ResponseVerifier::Result;
  const Bytes mac = fromHex(vectors().at("stream").at("mac"));
  const std::uint64_t now = nowOf("stream");

  struct Case {
    const char* name;
    const char* vec;
    std::vector<int> order;  // message indexes fed, in order
    int flipIn;              // message index with a flipped bit (-1: none)
    std::vector<R> expect;
    bool complete;
  };
  const Case cases[] = {
      {"every message signed", "stream", {0, 1, 2}, -1, {R::Ok, R::Ok, R::Ok}, true},
      {"an unsigned message between",
       "stream-gap",
       {0, 1, 2},
       -1,
       {R::Ok, R::Unsigned, R::Ok},
       true},
      {"a flipped bit in the unsigned message",
       "stream-gap",
       {0, 1, 2},
       1,
       {R::Ok, R::Unsigned, R::BadSig},
       false},
      {"a flipped bit in the second message",
       "stream",
       {0, 1, 2},
       1,
       {R::Ok, R::BadSig, R::FormErr},
       false},
      {"a message dropped", "stream", {0, 2}, -1, {R::Ok, R::BadSig}, false},
      {"messages swapped", "stream", {1, 0}, -1, {R::BadSig, R::FormErr}, false},
      {"the first message unsigned", "stream-gap", {1}, -1, {R::FormErr}, false},
      {"ending on an unsigned message", "stream-gap", {0, 1}, -1, {R::Ok, R::Unsigned}, false},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    tsig::ResponseVerifier v(k, mac);
    for (std::size_t i = 0; i < c.order.size(); ++i) {
      CAPTURE(i);
      Bytes m = wire(c.vec, "wire" + std::to_string(c.order[i]));
      if (c.order[i] == c.flipIn) m[3] ^= 0x01;  // a header bit: covered, parses as before
      CHECK(static_cast<int>(v.verify(m, now)) == static_cast<int>(c.expect[i]));
    }
    CHECK(v.complete() == c.complete);
  }

  SUBCASE("a single answer, and its request MAC") {
    tsig::ResponseVerifier good(k, fromHex(vectors().at("response").at("mac")));
    CHECK(good.verify(wire("response"), nowOf("response")) == R::Ok);
    CHECK(good.complete());
    Bytes otherMac = fromHex(vectors().at("response").at("mac"));
    otherMac[0] ^= 1;
    tsig::ResponseVerifier bad(k, otherMac);
    CHECK(bad.verify(wire("response"), nowOf("response")) == R::BadSig);
    tsig::ResponseVerifier late(k, fromHex(vectors().at("response").at("mac")));
    CHECK(late.verify(wire("response"), nowOf("response") + 301) == R::BadTime);
  }
  SUBCASE("100 unsigned messages in a row") {
    tsig::ResponseVerifier v(k, mac);
    REQUIRE(v.verify(wire("stream-gap", "wire0"), now) == R::Ok);
    const Bytes u = wire("stream-gap", "wire1");
    for (int i = 0; i < 99; ++i) REQUIRE(v.verify(u, now) == R::Unsigned);
    CHECK(v.verify(u, now) == R::TooManyUnsigned);
  }
}

TEST_CASE("TSIG: error answers (RFC 8945 5.3.2)") {
  const tsig::Keyring ring = testKeys();
  const Bytes req = wire("dnspython-sha256");
  const std::uint64_t sent = nowOf("dnspython-sha256");
  // The answer to the request: header (QR, NOTAUTH) and the question.
  auto answerBody = [&](Writer& w) {
    w.bytes({req.data(), 2});
    w.u16(dns::kFlagQR | static_cast<std::uint16_t>(dns::Rcode::NotAuth));
    w.u16(1);
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.bytes({req.data() + 12, tsigOffset(req) - 12});
  };

  SUBCASE("BADTIME is signed, with the request's time and ours in Other Data") {
    const std::uint64_t now = sent + 1000;
    const auto check = tsig::verifyRequest(req, ring, now);
    REQUIRE(check.verdict == tsig::Verdict::BadTime);
    REQUIRE(check.key);
    auto s = tsig::Signer::forResponse(*check.key, check.mac.span());
    std::vector<std::uint8_t> buf(1024);
    Writer w(buf.data(), buf.size());
    answerBody(w);
    REQUIRE(s.sign(w, now, check.error(), check.record.timeSigned));
    const Bytes ans(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
    tsig::Record rec;
    Reader r(ans, tsigOffset(ans));
    REQUIRE(tsig::read(r, rec));
    CHECK(rec.error == static_cast<std::uint16_t>(dns::TsigError::BadTime));
    CHECK(rec.timeSigned == sent);
    REQUIRE(rec.other.size() == 6);
    std::uint64_t other = 0;
    for (auto b : rec.other) other = (other << 8) | b;
    CHECK(other == now);
    // The client (holding the key) finds it authentic and reports the error.
    tsig::ResponseVerifier v(*check.key, macOf(req));
    CHECK(v.verify(ans, now) == tsig::ResponseVerifier::Result::PeerError);
    CHECK(v.peerError() == static_cast<std::uint16_t>(dns::TsigError::BadTime));
    Bytes forged = ans;
    forged[forged.size() - 1] ^= 1;  // the server time in Other Data
    tsig::ResponseVerifier v2(*check.key, macOf(req));
    CHECK(v2.verify(forged, now) == tsig::ResponseVerifier::Result::BadSig);
  }
  SUBCASE("BADKEY is unsigned, echoing the request's key, algorithm and time") {
    const tsig::Keyring none;
    const auto check = tsig::verifyRequest(req, none, sent);
    REQUIRE(check.verdict == tsig::Verdict::BadKey);
    std::vector<std::uint8_t> buf(1024);
    Writer w(buf.data(), buf.size());
    answerBody(w);
    REQUIRE(tsig::writeUnsigned(w, check.record, static_cast<std::uint16_t>(check.error()),
                                check.record.timeSigned));
    w.patch16(10, 1);
    const Bytes ans(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
    CHECK(w.size() == tsigOffset(ans) + tsig::unsignedSize(check.record));
    tsig::ResponseVerifier v(*ring.find(name::asSpan(*name::fromText("tsig-key"))), macOf(req));
    CHECK(v.verify(ans, sent) == tsig::ResponseVerifier::Result::PeerError);
    CHECK(v.peerError() == static_cast<std::uint16_t>(dns::TsigError::BadKey));
  }
}

TEST_CASE("TSIG: round trip through our own Signer and verifiers") {
  const tsig::Keyring ring = testKeys();
  for (const char* keyName : {"tsig-key", "sha512-key", "sha1-key"}) {
    CAPTURE(keyName);
    const tsig::Key& k = *ring.find(name::asSpan(*name::fromText(keyName)));
    const Bytes q = wire("dnspython-sha256", "unsigned");
    std::vector<std::uint8_t> buf(4096);
    Writer w(buf.data(), buf.size());
    w.bytes(q);
    auto client = tsig::Signer::forRequest(k);
    REQUIRE(client.sign(w, 1800000000));
    const Bytes signedQ(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
    const auto check = tsig::verifyRequest(signedQ, ring, 1800000010);
    REQUIRE(check.verdict == tsig::Verdict::Ok);
    auto server = tsig::Signer::forResponse(*check.key, check.mac.span());
    tsig::ResponseVerifier v(k, client.lastMac());
    for (int i = 0; i < 4; ++i) {
      Writer a(buf.data(), buf.size());
      a.bytes(q);
      a.patch16(2, dns::kFlagQR);
      REQUIRE(server.sign(a, 1800000020));
      CHECK(v.verify({buf.data(), a.size()}, 1800000020) == tsig::ResponseVerifier::Result::Ok);
    }
  }
}

TEST_CASE("base64 decoding is strict, whitespace aside") {
  struct Case {
    const char* text;
    const char* decoded;  // nullptr: rejected
  };
  const Case cases[] = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {" Zm9v\nYmFy\r\n", "foobar"},
      {"Zm 8=\t", "fo"},
      {"Zg", nullptr},        // padding is required
      {"Zg=", nullptr},       // incomplete padding
      {"Z===", nullptr},      // three padding characters
      {"Zh==", nullptr},      // non-zero unused bits: not a canonical encoding
      {"Zm9=", nullptr},      // the same for two bytes
      {"Zg==Zg==", nullptr},  // data after padding
      {"Zm9v!", nullptr},     // not in the alphabet
      {"Zm9v-_", nullptr},    // base64url is another alphabet
      {"=", nullptr},
      {"====", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto got = tsig::decodeBase64(c.text);
    if (!c.decoded) {
      CHECK_FALSE(got);
      continue;
    }
    REQUIRE(got);
    CHECK(std::string(got->begin(), got->end()) == c.decoded);
  }
  // Every length, every byte value: encode then decode is the identity.
  for (std::size_t n = 0; n < 70; ++n) {
    Bytes b;
    for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(i * 37 + n));
    auto back = tsig::decodeBase64(tsig::encodeBase64(b));
    REQUIRE(back);
    CHECK(*back == b);
  }
  CHECK(tsig::encodeBase64(range(0, 32)) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
}

TEST_CASE("TSIG keys from configuration text") {
  struct Case {
    const char* name;
    const char* algorithm;
    const char* secret;
    const char* error;  // substring, or nullptr for a good key
  };
  const Case cases[] = {
      {"xfr.example.", "hmac-sha256", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", nullptr},
      {"XFR.Example", "HMAC-SHA512.", "AAECAwQF\n", nullptr},
      {"xfr", "hmac-md5", "AAEC", "unknown TSIG algorithm 'hmac-md5'"},
      {"xfr", "hmac-sha256", "not base64!", "not valid base64"},
      {"xfr", "hmac-sha256", "", "empty"},
      {"", "hmac-sha256", "AAEC", "bad TSIG key name"},
      {"a..b", "hmac-sha256", "AAEC", "bad TSIG key name"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::string err;
    auto k = tsig::makeKey(c.name, c.algorithm, c.secret, &err);
    if (c.error) {
      CHECK_FALSE(k);
      CHECK(err.find(c.error) != std::string::npos);
    } else {
      REQUIRE(k);
      CHECK(name::toText(name::asSpan(k->name)) ==
            name::toText(name::asSpan(*name::fromText(c.name))));
    }
  }
  tsig::Keyring ring;
  std::string err;
  CHECK(ring.add(*tsig::makeKey("xfr", "hmac-sha256", "AAEC", &err), &err));
  CHECK_FALSE(ring.add(*tsig::makeKey("XFR.", "hmac-sha512", "AAEC", &err), &err));
  CHECK(err.find("defined twice") != std::string::npos);
  CHECK(ring.size() == 1);
  for (auto a :
       {tsig::Algorithm::HmacSha1, tsig::Algorithm::HmacSha224, tsig::Algorithm::HmacSha256,
        tsig::Algorithm::HmacSha384, tsig::Algorithm::HmacSha512}) {
    CHECK(tsig::algorithmFromText(tsig::algorithmText(a)) == a);
    CHECK(tsig::algorithmFromName(tsig::algorithmName(a)) == a);
    CHECK(name::toText(tsig::algorithmName(a)) == std::string(tsig::algorithmText(a)) + ".");
  }
}
