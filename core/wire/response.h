#pragma once
// The response writer: header, the client's question, whole RRsets per
// section with name compression (RFC 1035 4.1.4), the OPT with the ECS echo
// and an unsigned TSIG, into a caller-owned buffer. No allocation. The
// per-record methods are inline: they run for every record of every answer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/compress.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"
#include "core/wire/query.h"
#include "core/wire/tsig.h"
#include "core/wire/wire.h"

namespace geodns::wire {

// Where the owner of an RRset comes from: the question name (a pointer to
// offset 12, which also preserves the client's case for synthesized answers)
// or a stored name (lowercase wire).
struct Owner {
  bool isQname;
  name::Span name;
};

// The TTL argument that means "the RRset's own TTL".
inline constexpr std::uint32_t kStoredTtl = 0xFFFFFFFF;

class Response {
 public:
  // Fixed part of the OPT record: root name, type, class, ttl, rdlength.
  static constexpr std::size_t kOptSize = 11;

  // Writes into `out`, at most `limit` bytes. The OPT record (with the ECS
  // echo when the query had ECS) always fits: its space is reserved before
  // anything else is written. `q` must outlive finish().
  Response(std::span<std::uint8_t> out, std::size_t limit, const ParsedQuery& q) noexcept
      : w_(out.data(), std::min(limit, out.size()) - (q.edns ? optSize(q) : 0)),
        fullLimit_(std::min(limit, out.size())),
        edns_(q.edns),
        query_(q) {}
  static std::size_t optSize(const ParsedQuery& q) noexcept {
    return kOptSize + (q.ecs ? 8 + (q.ecsSource + 7u) / 8u : 0);
  }
  static constexpr std::size_t kMaxOptSize = kOptSize + 8 + 16;
  // The OPT answering `q` (our payload size, the extended rcode bits, DO
  // echoed when `dnssecOk`, ECS echoed with `ecsScope`) into `out`, which
  // holds kMaxOptSize bytes; returns its length (optSize(q)).
  static std::size_t writeOpt(std::uint8_t* out, const ParsedQuery& q, std::uint16_t advertised,
                              std::uint16_t rcode, bool dnssecOk, std::uint8_t ecsScope) noexcept;
  void setEcsScope(std::uint8_t scope) noexcept { ecsScope_ = scope; }
  // Records where compression pointers are written (answer templates).
  void setPointerLog(Compressor::PointerLog* log) noexcept { comp_.setLog(log); }
  // The UDP payload size our OPT advertises.
  void setAdvertised(std::uint16_t v) noexcept { advertised_ = v; }

  // The header: the query's id, QR, its opcode and RD; counts and the rest of
  // the flags are patched by finish().
  void header(const ParsedQuery& q) noexcept {
    flags_ =
        static_cast<std::uint16_t>(dns::kFlagQR | (q.flags & (dns::kOpcodeMask | dns::kFlagRD)));
    // The id; flags and counts are patched in finish().
    const std::uint8_t h[dns::kHeaderSize] = {static_cast<std::uint8_t>(q.id >> 8),
                                              static_cast<std::uint8_t>(q.id)};
    w_.bytes({h, sizeof h});
  }
  // The question as the client sent it (case kept); compression targets start here.
  void question(const ParsedQuery& q) noexcept {
    w_.bytes(q.qnameRaw.span());
    const std::uint8_t tc[4] = {
        static_cast<std::uint8_t>(q.qtype >> 8), static_cast<std::uint8_t>(q.qtype),
        static_cast<std::uint8_t>(q.qclass >> 8), static_cast<std::uint8_t>(q.qclass)};
    w_.bytes({tc, sizeof tc});
    qd_ = 1;
    questionPending_ = true;  // registered for compression when a name is first written
    questionEnd_ = w_.size();
  }

  // Adds a whole RRset to `section`, or nothing when it does not fit. `ttl`
  // overrides the stored TTL unless kStoredTtl. `Set` is a stored RRset
  // (zones::RRset): `type`, `ttl`, `bytes` (concatenated RDATA) and `rrs`
  // (offset, length and the positions of the names to compress of each RR).
  template <class Set>
  bool add(dns::Section section, Owner owner, const Set& set, std::uint16_t rrclass = dns::kClassIN,
           std::uint32_t ttl = kStoredTtl) noexcept {
    if (stopped_) return false;
    const std::size_t mark = w_.size();
    const auto* base = reinterpret_cast<const std::uint8_t*>(set.bytes.data());
    for (const auto& rd : set.rrs) {
      writeOwner(owner);
      w_.u16(set.type);
      w_.u16(rrclass);
      w_.u32(ttl == kStoredTtl ? set.ttl : ttl);
      const std::size_t rdlenAt = w_.size();
      w_.u16(0);
      const std::uint8_t* rdata = base + rd.offset;
      std::size_t pos = 0;
      for (std::uint8_t k = 0; k < rd.nameCount; ++k) {
        const std::size_t at = rd.namePos[k];
        w_.bytes({rdata + pos, at - pos});
        const std::size_t len = nameLength(rdata + at, rd.length - at);
        comp().write(w_, {rdata + at, len});
        pos = at + len;
      }
      w_.bytes({rdata + pos, rd.length - pos});
      if (!w_.ok()) break;
      w_.patch16(rdlenAt, static_cast<std::uint16_t>(w_.size() - rdlenAt - 2));
    }
    if (!w_.ok()) {
      w_.truncate(mark);
      comp_.truncate(mark);
      return false;
    }
    count(section) = static_cast<std::uint16_t>(count(section) + set.rrs.size());
    return true;
  }
  // As add(), but a record that does not fit truncates the message (TC=1) and
  // nothing more is added: for data the client must see whole.
  template <class Set>
  bool addRequired(dns::Section section, Owner owner, const Set& set,
                   std::uint32_t ttl = kStoredTtl) noexcept {
    if (add(section, owner, set, dns::kClassIN, ttl)) return true;
    truncated_ = true;
    stopped_ = true;
    return false;
  }
  // One record with raw RDATA (pool answers), compressed when `rdataIsName`.
  // A record that does not fit truncates the message; false then.
  bool addRecord(dns::Section section, Owner owner, std::uint16_t type, std::uint32_t ttl,
                 std::span<const std::uint8_t> rdata, bool rdataIsName) noexcept {
    if (stopped_) return false;
    const std::size_t mark = w_.size();
    writeOwner(owner);
    // TYPE, CLASS IN, TTL, RDLENGTH (patched after a compressed name).
    const std::uint8_t fixed[10] = {static_cast<std::uint8_t>(type >> 8),
                                    static_cast<std::uint8_t>(type),
                                    0,
                                    1,
                                    static_cast<std::uint8_t>(ttl >> 24),
                                    static_cast<std::uint8_t>(ttl >> 16),
                                    static_cast<std::uint8_t>(ttl >> 8),
                                    static_cast<std::uint8_t>(ttl),
                                    static_cast<std::uint8_t>(rdata.size() >> 8),
                                    static_cast<std::uint8_t>(rdata.size())};
    w_.bytes({fixed, sizeof fixed});
    const std::size_t rdlenAt = w_.size() - 2;
    if (rdataIsName) {
      comp().write(w_, rdata);
      if (w_.ok()) w_.patch16(rdlenAt, static_cast<std::uint16_t>(w_.size() - rdlenAt - 2));
    } else {
      w_.bytes(rdata);
    }
    if (!w_.ok()) {
      w_.truncate(mark);
      comp_.truncate(mark);
      truncated_ = true;
      stopped_ = true;
      return false;
    }
    ++count(section);
    return true;
  }
  // A mark to roll the answer section back to (a partial pool answer).
  std::size_t mark() const noexcept { return w_.size(); }
  std::uint16_t answerCount() const noexcept { return counts_[0]; }
  // Drops every answer record written after `mark`, leaving `count` answers.
  void rollbackAnswers(std::size_t mark, std::uint16_t count) noexcept {
    w_.truncate(mark);
    comp_.truncate(mark);
    counts_[0] = count;
  }

  // An unsigned TSIG RR answering `req` goes last (error responses, RFC 8945
  // 5.3.2). `req` must outlive finish().
  void setTsig(const tsig::Record* req, dns::TsigError error) noexcept {
    tsig_ = req;
    tsigError_ = static_cast<std::uint16_t>(error);
  }

  // Appends the OPT (extended rcode bits, DO echoed when `dnssecOk`, ECS) and
  // the TSIG, patches flags and counts; returns the message length (0 when
  // even the header did not fit).
  std::size_t finish(dns::Rcode rcode, bool aa, bool dnssecOk) noexcept;

  bool truncated() const noexcept { return truncated_; }
  // Sets TC and adds nothing more (an answer only TCP may carry).
  void markTruncated() noexcept {
    truncated_ = true;
    stopped_ = true;
  }
  // Drops every record written so far (the header and question stay; the OPT
  // and TSIG are still added by finish()), sets TC and adds nothing more: an
  // answer that must be fetched over TCP whole.
  void truncateToQuestion() noexcept {
    w_.truncate(questionEnd_);
    comp_.truncate(questionEnd_);
    counts_[0] = counts_[1] = counts_[2] = 0;
    markTruncated();
  }

 private:
  static constexpr std::uint16_t kQnamePointer = 0xC000 | dns::kHeaderSize;
  static std::size_t nameLength(const std::uint8_t* p, std::size_t max) noexcept {
    std::size_t i = 0;
    while (i < max && p[i] != 0) i += std::size_t{1} + p[i];
    return std::min(i + 1, max);
  }
  void writeOwner(Owner owner) noexcept {
    if (owner.isQname)
      w_.u16(kQnamePointer);
    else
      comp().write(w_, owner.name);
  }
  // The compressor, with the question's labels registered first (lazily: an
  // answer whose names all point at the question never needs them).
  Compressor& comp() noexcept {
    if (questionPending_) {
      comp_.addWritten(w_.data(), dns::kHeaderSize);
      questionPending_ = false;
    }
    return comp_;
  }
  std::uint16_t& count(dns::Section s) noexcept { return counts_[static_cast<std::size_t>(s)]; }

  Writer w_;
  Compressor comp_;
  std::size_t fullLimit_;
  bool edns_;
  bool truncated_ = false;
  bool stopped_ = false;
  bool questionPending_ = false;
  std::uint16_t flags_ = 0;
  std::uint16_t qd_ = 0;
  std::size_t questionEnd_ = dns::kHeaderSize;
  std::uint16_t counts_[3] = {0, 0, 0};
  std::uint16_t advertised_ = 1232;
  const ParsedQuery& query_;
  std::uint8_t ecsScope_ = 0;
  const tsig::Record* tsig_ = nullptr;
  std::uint16_t tsigError_ = 0;
};

}  // namespace geodns::wire
