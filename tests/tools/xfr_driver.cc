// Test-only: serves AXFR/IXFR of one zone file over TCP on 127.0.0.1 with the
// pieces of issue 15 that exist before they are wired into geodnsd (TSIG
// verification and signing, the ACL, the transfer stream), so that real
// clients (dnspython, dig, kdig) can check them end to end. Not installed.
//
//   xfr_driver --zone FILE --origin NAME [--key NAME:ALG:BASE64]... [--require-tsig]
//              [--allow ENTRY]... [--max-message N] [--bound NAME=TYPE:RDATA,...]...
//              [--corrupt-mac N]
//
// Prints "PORT <n>" once listening, then serves one request per connection
// until killed. --bound binds NAME (relative to the origin) to a pool and
// supplies the records the transfer carries for it (A/AAAA addresses, or a
// CNAME target). --corrupt-mac N damages the MAC of the Nth message, so a
// test can show that a client really checks our signatures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/acl.h"
#include "core/clock.h"
#include "core/wire/dns.h"
#include "core/ip.h"
#include "core/wire/tsig.h"
#include "zones/serial.h"
#include "zones/transfer.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

using namespace geodns;

namespace {

struct Options {
  std::string zoneFile, origin;
  tsig::Keyring keys;
  bool requireTsig = false;
  Acl acl;
  bool aclGiven = false;
  std::size_t maxMessage = 65535;
  int corruptMac = 0;  // 1-based message whose MAC is damaged after signing (0: none)
  std::vector<zones::BoundName> bound;
  std::vector<zones::ExtraRRset> extras;
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "xfr_driver: %s\n", why.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

void addBound(Options& o, const std::string& spec) {
  const auto eq = spec.find('=');
  const auto colon = spec.find(':', eq);
  if (eq == std::string::npos || colon == std::string::npos) die("bad --bound " + spec);
  const auto owner = name::fromText(spec.substr(0, eq) + "." + o.origin);
  if (!owner) die("bad --bound name " + spec);
  const std::string type = spec.substr(eq + 1, colon - eq - 1);
  std::vector<std::string> rdatas;
  std::uint16_t t = 0;
  for (const auto& v : split(spec.substr(colon + 1), ',')) {
    if (type == "CNAME") {
      t = dns::toU16(dns::Type::CNAME);
      rdatas.push_back(*name::fromText(v));
    } else {
      const auto a = IpAddress::parse(v);
      if (!a) die("bad address in --bound " + spec);
      t = a->family == 4 ? dns::toU16(dns::Type::A) : dns::toU16(dns::Type::AAAA);
      rdatas.emplace_back(reinterpret_cast<const char*>(a->bytes), a->size());
    }
  }
  o.bound.push_back({*owner, static_cast<std::int32_t>(o.bound.size()), "--bound"});
  o.extras.push_back({*owner, zones::makeRRset(t, 30, rdatas)});
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--zone") {
      o.zoneFile = value();
    } else if (a == "--origin") {
      o.origin = value();
    } else if (a == "--key") {
      const auto parts = split(value(), ':');
      if (parts.size() != 3) die("--key NAME:ALG:BASE64");
      std::string err;
      auto k = tsig::makeKey(parts[0], parts[1], parts[2], &err);
      if (!k || !o.keys.add(std::move(*k), &err)) die(err);
    } else if (a == "--require-tsig") {
      o.requireTsig = true;
    } else if (a == "--allow") {
      std::string err;
      if (!o.acl.add(value(), &err)) die(err);
      o.aclGiven = true;
    } else if (a == "--max-message") {
      o.maxMessage = std::stoul(value());
    } else if (a == "--corrupt-mac") {
      o.corruptMac = std::stoi(value());
    } else if (a == "--bound") {
      addBound(o, value());
    } else {
      die("unknown argument " + a);
    }
  }
  if (o.zoneFile.empty() || o.origin.empty()) die("--zone and --origin are required");
  if (!o.aclGiven) o.acl.add("any", nullptr);
  return o;
}

bool readFull(int fd, std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 5000) != 1) return false;
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool writeFramed(int fd, std::span<const std::uint8_t> msg) {
  std::vector<std::uint8_t> out(msg.size() + 2);
  out[0] = static_cast<std::uint8_t>(msg.size() >> 8);
  out[1] = static_cast<std::uint8_t>(msg.size());
  std::memcpy(out.data() + 2, msg.data(), msg.size());
  std::size_t off = 0;
  while (off < out.size()) {
    const ssize_t w = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += static_cast<std::size_t>(w);
  }
  return true;
}

// An error answer: the header with `rcode`, the question, and (for TSIG
// errors) the TSIG the rules of RFC 8945 5.3.2 call for.
std::vector<std::uint8_t> errorAnswer(const zones::XfrQuery& q, dns::Rcode rcode,
                                      const tsig::RequestCheck* check, std::uint64_t now) {
  std::vector<std::uint8_t> buf(4096);
  Writer w(buf.data(), buf.size());
  const std::uint16_t opcode = static_cast<std::uint16_t>(q.request.flags & dns::kOpcodeMask);
  w.u16(q.request.id);
  w.u16(static_cast<std::uint16_t>(dns::kFlagQR | opcode | (q.request.flags & dns::kFlagRD) |
                                   static_cast<std::uint16_t>(rcode)));
  w.u16(q.request.question.empty() ? 0 : 1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.bytes(q.request.question);
  if (check &&
      (check->verdict == tsig::Verdict::BadKey || check->verdict == tsig::Verdict::BadSig)) {
    tsig::writeUnsigned(w, check->record, static_cast<std::uint16_t>(check->error()),
                        check->record.timeSigned);
    w.patch16(10, 1);
  } else if (check && check->signsAnswer()) {
    auto signer = tsig::Signer::forResponse(*check->key, check->mac.span());
    signer.sign(w, now, check->error(), check->record.timeSigned);
  }
  buf.resize(w.size());
  return buf;
}

void serve(int fd, const IpAddress& peer, const Options& o, const zones::Zone& zone) {
  std::uint8_t len[2];
  if (!readFull(fd, len, 2)) return;
  std::vector<std::uint8_t> req((std::size_t{len[0]} << 8) | len[1]);
  if (!readFull(fd, req.data(), req.size())) return;
  const auto now = static_cast<std::uint64_t>(SteadyClock().unixSeconds());

  zones::XfrQuery q;
  const auto parsed = zones::parseXfrQuery(req, q);
  if (parsed != zones::XfrParse::Ok) {
    writeFramed(
        fd, errorAnswer(
                q, parsed == zones::XfrParse::FormErr ? dns::Rcode::FormErr : dns::Rcode::NotImp,
                nullptr, now));
    return;
  }
  const auto check = tsig::verifyRequest(req, o.keys, now);
  if (check.verdict == tsig::Verdict::FormErr)
    return (void)writeFramed(fd, errorAnswer(q, dns::Rcode::FormErr, nullptr, now));
  if (check.verdict != tsig::Verdict::Ok && check.verdict != tsig::Verdict::Unsigned)
    return (void)writeFramed(fd, errorAnswer(q, check.rcode(), &check, now));
  const bool zoneMatches = name::asView(q.zone.span()) == zone.origin();
  if (!zoneMatches)
    return (void)writeFramed(
        fd, errorAnswer(q, dns::Rcode::NotAuth,
                        check.verdict == tsig::Verdict::Ok ? &check : nullptr, now));
  if (!o.acl.allows(peer) || (o.requireTsig && check.verdict != tsig::Verdict::Ok))
    return (void)writeFramed(
        fd, errorAnswer(q, dns::Rcode::Refused,
                        check.verdict == tsig::Verdict::Ok ? &check : nullptr, now));

  std::optional<tsig::Signer> signer;
  zones::XfrOptions opt;
  opt.maxMessage = o.maxMessage;
  if (check.verdict == tsig::Verdict::Ok) {
    signer = tsig::Signer::forResponse(*check.key, check.mac.span());
    opt.signReserve = signer->reserve();
    opt.sign = [&](Writer& w) {
      if (!signer->sign(w, now)) return false;
      // A negative control for the clients: a MAC they must refuse. The MAC's
      // last byte precedes original ID, error and other length (6 bytes).
      if (static_cast<std::size_t>(o.corruptMac) == signer->signedCount())
        w.data()[w.size() - 7] ^= 1;
      return true;
    };
  }
  const bool current = q.ixfrSerial && zones::compareSerial(*q.ixfrSerial, zone.serial()) !=
                                           zones::SerialOrder::Less;
  auto stream = current ? zones::AxfrStream::soaOnly(zone, q.request, opt)
                        : zones::AxfrStream(zone, q.request, o.extras, opt);
  for (auto m = stream.next(); !m.empty(); m = stream.next())
    if (!writeFramed(fd, m)) return;
  if (stream.failed()) std::fprintf(stderr, "xfr_driver: %s\n", stream.error().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  ErrorList errors;
  auto rrs = zones::parseZoneFile(o.zoneFile, o.origin, errors);
  auto zone = zones::Zone::compile(o.origin, std::move(rrs), errors, o.bound);
  if (!zone) die(errors.str());

  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t slen = sizeof sin;
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      ::listen(lfd, 16) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sin), &slen) != 0)
    die(std::string("listen: ") + std::strerror(errno));
  std::printf("PORT %u\n", ntohs(sin.sin_port));
  std::fflush(stdout);
  for (;;) {
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    const int cfd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
    if (cfd < 0) continue;
    serve(cfd, IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&peer)), o, *zone);
    ::close(cfd);
  }
}
