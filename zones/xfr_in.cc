#include "zones/xfr_in.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <utility>

#include "core/wire/dns.h"
#include "zones/zone_file.h"

namespace geodns::zones {

namespace {

constexpr std::uint16_t kSOA = dns::toU16(dns::Type::SOA);
constexpr std::uint16_t kAXFR = dns::toU16(dns::Type::AXFR);

struct Header {
  std::uint16_t id = 0, flags = 0, qd = 0, an = 0;
};

bool readHeader(Reader& r, Header& h) noexcept {
  h.id = r.u16();
  h.flags = r.u16();
  h.qd = r.u16();
  h.an = r.u16();
  r.skip(4);  // NSCOUNT, ARCOUNT: ldns (AXFR) or the walk (SOA) checks the records
  return r.ok();
}

std::string rcodeText(std::uint16_t rcode) {
  const char* n = dns::rcodeName(rcode);
  return n ? std::string(n) : "rcode " + std::to_string(rcode);
}

// What every answer to our query must have: our ID, QR, opcode QUERY, NOERROR.
// Empty when it does.
std::string checkResponse(const Header& h, std::uint16_t id) {
  if (h.id != id)
    return "ID " + std::to_string(h.id) + " is not our query's (" + std::to_string(id) + ")";
  if (!(h.flags & dns::kFlagQR)) return "not a response (QR clear)";
  if ((h.flags & dns::kOpcodeMask) != 0)
    return "opcode " + std::to_string((h.flags & dns::kOpcodeMask) >> 11) + ", not QUERY";
  const std::uint16_t rcode = h.flags & dns::kRcodeMask;
  if (rcode != dns::toU16(dns::Rcode::NoError)) return "primary answered " + rcodeText(rcode);
  return {};
}

// Reads one question and checks it is <origin, qtype, IN> (name compared
// case-insensitively: `origin` is lowercase). Empty when it is.
std::string checkQuestion(Reader& r, name::Span origin, std::uint16_t qtype) {
  name::NameBuf qname;
  if (!name::read(r, qname, true)) return "malformed question";
  const std::uint16_t type = r.u16(), qclass = r.u16();
  if (!r.ok()) return "malformed question";
  if (name::asView(qname.span()) != name::asView(origin) || type != qtype ||
      qclass != dns::kClassIN)
    return "the question is <" + name::toText(qname.span()) + ", " + std::to_string(type) + ", " +
           std::to_string(qclass) + ">, not ours";
  return {};
}

}  // namespace

bool writeXfrQuery(Writer& w, std::uint16_t id, name::Span origin, std::uint16_t qtype) noexcept {
  w.u16(id);
  w.u16(
      0);  // QR clear, opcode QUERY, RD clear (RFC 5936 2.2.1 leaves it to us; we recurse nothing)
  w.u16(1);  // QDCOUNT
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.bytes(origin);
  w.u16(qtype);
  w.u16(dns::kClassIN);
  return w.ok();
}

std::optional<std::uint32_t> readSoaAnswer(std::span<const std::uint8_t> msg, std::uint16_t id,
                                           name::Span origin, std::string* err) {
  auto no = [&](std::string why) -> std::optional<std::uint32_t> {
    if (err) *err = std::move(why);
    return std::nullopt;
  };
  try {
    Reader r(msg);
    Header h;
    if (!readHeader(r, h)) return no("truncated header");
    if (std::string why = checkResponse(h, id); !why.empty()) return no(std::move(why));
    if (!(h.flags & dns::kFlagAA)) return no("not authoritative (AA clear)");
    if (h.qd != 1) return no("QDCOUNT " + std::to_string(h.qd) + ", not 1");
    if (std::string why = checkQuestion(r, origin, kSOA); !why.empty()) return no(std::move(why));
    for (std::uint16_t i = 0; i < h.an; ++i) {
      name::NameBuf owner;
      if (!name::read(r, owner, true)) return no("malformed answer record");
      const std::uint16_t type = r.u16(), rrclass = r.u16();
      r.skip(4);  // TTL
      const std::uint16_t rdlen = r.u16();
      const std::size_t start = r.pos();
      r.skip(rdlen);
      if (!r.ok()) return no("malformed answer record");
      if (type != kSOA || rrclass != dns::kClassIN ||
          name::asView(owner.span()) != name::asView(origin))
        continue;
      // MNAME and RNAME (possibly compressed), then SERIAL first of five numbers.
      Reader s(msg, start);
      name::NameBuf scratch;
      if (!name::read(s, scratch, false) || !name::read(s, scratch, false))
        return no("malformed SOA");
      const std::uint32_t serial = s.u32();
      if (!s.ok() || s.pos() + 16 != start + rdlen) return no("malformed SOA");
      return serial;
    }
    return no("no SOA for " + name::toText(origin) + " in the answer");
  } catch (const std::exception& e) {  // bad_alloc from an error string
    return no(e.what());
  }
}

AxfrReader::AxfrReader(name::Span origin, std::uint16_t id, std::size_t maxRecords)
    : id_(id), maxRecords_(maxRecords) {
  if (origin.empty() || origin.size() > sizeof origin_.data) {
    state_ = State::Failed;
    error_ = "bad origin";
    return;
  }
  std::memcpy(origin_.data, origin.data(), origin.size());
  origin_.len = origin.size();
}

void AxfrReader::fail(std::string why) {
  state_ = State::Failed;
  error_ = std::move(why);
}

AxfrReader::State AxfrReader::feed(std::span<const std::uint8_t> msg) {
  if (state_ == State::Failed) return state_;  // keeps the first reason
  if (state_ == State::Done) {
    fail("message after the end of the transfer");
    return state_;
  }
  try {
    const std::string where = "message " + std::to_string(messages_ + 1) + ": ";
    Reader r(msg);
    Header h;
    if (!readHeader(r, h)) {
      fail(where + "truncated header");
      return state_;
    }
    std::string why = checkResponse(h, id_);
    if (why.empty() && (h.flags & dns::kFlagTC)) why = "truncated (TC set)";
    // The first message echoes the question; later ones may repeat it (RFC 5936 2.2.1).
    if (why.empty() && (h.qd > 1 || (messages_ == 0 && h.qd != 1)))
      why = "QDCOUNT " + std::to_string(h.qd);
    if (why.empty() && h.qd == 1) why = checkQuestion(r, origin_.span(), kAXFR);
    std::vector<TextRR> rrs;
    if (why.empty()) messageAnswers(msg, rrs, &why);
    if (!why.empty()) {
      fail(where + why);
      return state_;
    }
    ++messages_;
    const std::string_view origin = name::asView(origin_.span());
    for (std::size_t i = 0; i < rrs.size(); ++i) {
      const TextRR& rr = rrs[i];
      const std::string rrWhere = where + "record " + std::to_string(i + 1) + " (" +
                                  name::toText(name::asSpan(rr.owner)) + " type " +
                                  std::to_string(rr.type) + "): ";
      if (rr.rrclass != dns::kClassIN) {
        fail(rrWhere + "class " + std::to_string(rr.rrclass) + ", not IN");
        return state_;
      }
      if (soaText_.empty()) {  // the first record of the transfer
        if (rr.type != kSOA || rr.owner != origin) {
          fail(rrWhere + "the transfer does not start with the zone's SOA");
          return state_;
        }
        soaText_ = rr.text;
        serial_ = rr.serial;
        lines_.push_back(rr.text);
        continue;
      }
      // The cap counts dropped records too: a primary streaming out-of-zone
      // names for ever is stopped as well. The closing SOA is not counted.
      const bool full = lines_.size() + ignored_ >= maxRecords_;
      if (!name::isSubdomain(name::asSpan(rr.owner), origin_.span())) {
        if (full) {
          fail(rrWhere + "more than " + std::to_string(maxRecords_) + " records");
          return state_;
        }
        ++ignored_;
        continue;
      }
      if (rr.type == kSOA) {  // the end, if it is the first SOA again
        if (rr.owner != origin) {
          fail(rrWhere + "an SOA below the apex");
        } else if (rr.text != soaText_) {
          fail(rrWhere + "the closing SOA (serial " + std::to_string(rr.serial) +
               ") differs from the first (serial " + std::to_string(serial_) + ")");
        } else if (i + 1 != rrs.size()) {
          fail(rrWhere + "records after the closing SOA");
        } else {
          state_ = State::Done;
        }
        return state_;
      }
      if (full) {
        fail(rrWhere + "more than " + std::to_string(maxRecords_) + " records");
        return state_;
      }
      lines_.push_back(rr.text);
    }
  } catch (const std::exception& e) {  // bad_alloc: the transfer cannot be kept
    fail(std::string("out of memory: ") + e.what());
  }
  return state_;
}

std::string AxfrReader::zoneText(std::string_view header) const {
  try {
    std::string out;
    std::size_t size = 64 + header.size();
    for (const auto& l : lines_) size += l.size() + 1;
    out.reserve(size);
    while (!header.empty()) {
      const std::size_t nl = header.find('\n');
      const std::string_view line = header.substr(0, nl);
      out += "; ";
      out += line;
      out += '\n';
      header = nl == std::string_view::npos ? std::string_view{} : header.substr(nl + 1);
    }
    out += "$ORIGIN " + name::toText(origin_.span()) + "\n";
    for (const auto& l : lines_) {
      out += l;
      out += '\n';
    }
    return out;
  } catch (const std::exception&) {
    return {};  // out of memory: an empty text parses to no zone, which the caller refuses
  }
}

bool writeFileAtomically(const std::string& path, std::string_view text, std::string* err) {
  auto no = [&](const std::string& what, int e) {
    if (err) *err = path + ": " + what + ": " + std::strerror(e);
    return false;
  };
  try {
    const std::filesystem::path target(path);
    std::filesystem::path dir = target.parent_path();
    if (dir.empty()) dir = ".";
    std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return no("cannot create a temporary file in " + dir.string(), errno);
    auto abandon = [&](const char* what) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return no(std::string(what) + " " + tmp, e);
    };
    // mkostemp makes 0600; keep the mode of the file we replace, else 0644.
    struct stat old {};
    const mode_t mode = ::stat(path.c_str(), &old) == 0 ? (old.st_mode & 07777) : 0644;
    if (::fchmod(fd, mode) != 0) return abandon("cannot chmod");
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return abandon("cannot write");
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return abandon("cannot fsync");
    if (::close(fd) != 0) {
      const int e = errno;
      ::unlink(tmp.c_str());
      return no("cannot close " + tmp, e);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int e = errno;
      ::unlink(tmp.c_str());
      return no("cannot rename " + tmp + " over it", e);
    }
    // The rename is durable once the directory is.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return no("replaced, but cannot open " + dir.string() + " to fsync it", errno);
    if (::fsync(dfd) != 0) {
      const int e = errno;
      ::close(dfd);
      return no("replaced, but cannot fsync " + dir.string(), e);
    }
    ::close(dfd);
    return true;
  } catch (const std::exception& e) {
    if (err) *err = path + ": " + e.what();
    return false;
  }
}

}  // namespace geodns::zones
