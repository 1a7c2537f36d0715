#include "zones/zone_file.h"

// ldns/common.h redefines `false` in C++ unless stdbool.h came first (FIELD-NOTES.md).
// clang-format off
#include <stdbool.h>
#include <strings.h>  // must precede ldns: see the comment above
#include <ldns/ldns.h>
// clang-format on

#include <arpa/inet.h>
#include <stdio_ext.h>  // __fsetlocking
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>

#include "core/both.h"
#include "core/huge_pages.h"
#include "core/wire/dns.h"
#include "core/wire/name.h"

namespace geodns::zones {
namespace {

constexpr int kMaxIncludeDepth = 8;

struct FileCloser {
  void operator()(FILE* f) const noexcept { std::fclose(f); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const noexcept { ldns_rdf_deep_free(r); }
};
struct RrFree {
  void operator()(ldns_rr* r) const noexcept { ldns_rr_free(r); }
};
struct PktFree {
  void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
struct CharFree {
  void operator()(char* p) const noexcept { std::free(p); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;

std::string rdfBytes(const ldns_rdf* rdf) {
  return std::string(reinterpret_cast<const char*>(ldns_rdf_data(rdf)), ldns_rdf_size(rdf));
}

ParsedRR convert(const ldns_rr* rr, const std::string* file, std::uint32_t line) {
  ParsedRR out;
  out.owner = rdfBytes(ldns_rr_owner(rr));
  name::toLower(reinterpret_cast<std::uint8_t*>(out.owner.data()), out.owner.size());
  out.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
  out.rrclass = static_cast<std::uint16_t>(ldns_rr_get_class(rr));
  out.ttl = ldns_rr_ttl(rr);
  out.file = file;
  out.line = line;
  bool compressible = dns::rdataNamesCompressible(out.type);
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    std::string b = rdfBytes(f);
    if (compressible && ldns_rdf_get_type(f) == LDNS_RDF_TYPE_DNAME && out.nameCount < 2) {
      name::toLower(reinterpret_cast<std::uint8_t*>(b.data()), b.size());
      out.namePos[out.nameCount++] = static_cast<std::uint16_t>(out.rdata.size());
    }
    out.rdata += b;
  }
  return out;
}

// A one-line A or AAAA record in its plainest form, read without ldns: most
// records of a big zone are such lines, and ldns spends several allocations
// and a per-character read on each (issue 12 item 4: the load of 1M records).
//
//   owner [ttl] [IN] A|AAAA address
//
// `line` is the text up to (not including) its newline. The owner starts the
// line (no inherited owner) and is "@" or labels of letters, digits, '-',
// '_' and '*' (relative to `origin`, or absolute with a final dot); the TTL
// is 1 to 9 digits (no units); the address is what inet_pton reads. Anything
// else - quotes, parentheses, escapes, comments, '\r', other classes or
// types, a token more or less - returns false and the line is left to ldns,
// which then gives exactly what it always gave (tests compare every case
// with ldns alone). The owner is the wire name, as typed (convert() lowercases).
bool isBlank(char c) {
  return c == ' ' || c == '\t';
}

// Writes `text`'s labels as wire labels at `out` (room for 256 bytes), no
// root label; returns the bytes written, or 0 when a label is empty, too
// long, or has another character.
std::size_t labelsAsWire(std::string_view text, char* out) {
  if (text.empty() || text.size() > 254 || text.back() == '.') return 0;  // "x.." is no name
  std::size_t start = 0, at = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) dot = text.size();
    const std::size_t len = dot - start;
    if (len == 0 || len > 63) return 0;
    for (std::size_t k = start; k < dot; ++k) {
      const auto u = static_cast<unsigned char>(text[k]);
      if (!(std::isalnum(u) || u == '-' || u == '_' || u == '*')) return 0;
    }
    out[at++] = static_cast<char>(len);
    std::memcpy(out + at, text.data() + start, len);
    at += len;
    start = dot + 1;
  }
  return at;
}

bool parsePlainAddress(std::string_view line, std::string_view origin, std::uint32_t defaultTtl,
                       ParsedRR& out) {
  if (line.empty() || isBlank(line[0])) return false;
  for (const char c : line)
    if (c == ';' || c == '"' || c == '(' || c == ')' || c == '\\' || c == '\r' || c == '$' ||
        c == '\f' || c == '\v' || c == '\0')
      return false;
  std::string_view tok[6];
  std::size_t n = 0;
  for (std::size_t k = 0; k < line.size();) {
    while (k < line.size() && isBlank(line[k])) ++k;
    if (k == line.size()) break;
    const std::size_t b = k;
    while (k < line.size() && !isBlank(line[k])) ++k;
    if (n == 6) return false;
    tok[n++] = line.substr(b, k - b);
  }
  if (n < 3) return false;
  std::size_t t = 1;
  std::uint32_t ttl = defaultTtl;
  if (std::isdigit(static_cast<unsigned char>(tok[t][0]))) {
    if (tok[t].size() > 9) return false;
    ttl = 0;
    for (const char c : tok[t]) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      ttl = ttl * 10 + static_cast<std::uint32_t>(c - '0');
    }
    ++t;
  } else if (defaultTtl == 0) {
    return false;  // ldns gives such a record 3600, not the default of 0 ($TTL 0, a bad $TTL)
  }
  if (t < n && tok[t].size() == 2 && strncasecmp(tok[t].data(), "IN", 2) == 0) ++t;
  if (t + 2 != n) return false;  // the type and one address
  const std::string_view type = tok[t];
  const bool a = type.size() == 1 && (type[0] == 'A' || type[0] == 'a');
  const bool aaaa = type.size() == 4 && strncasecmp(type.data(), "AAAA", 4) == 0;
  if (!a && !aaaa) return false;
  char addr[64];
  const std::string_view text = tok[t + 1];
  if (text.size() >= sizeof addr) return false;
  std::memcpy(addr, text.data(), text.size());
  addr[text.size()] = 0;
  std::uint8_t bytes[16];
  if (::inet_pton(a ? AF_INET : AF_INET6, addr, bytes) != 1) return false;

  // The owner is built here and copied once: one allocation of its size.
  char wire[256 + 256];
  std::size_t len = 0;
  const std::string_view owner = tok[0];
  if (owner == "@") {
    if (origin.size() > 255) return false;
    std::memcpy(wire, origin.data(), origin.size());
    len = origin.size();
  } else if (owner.back() == '.') {
    if (owner.size() == 1 || !(len = labelsAsWire(owner.substr(0, owner.size() - 1), wire)))
      return false;
    wire[len++] = 0;
  } else {
    if (!(len = labelsAsWire(owner, wire)) || origin.size() > 256) return false;
    std::memcpy(wire + len, origin.data(), origin.size());
    len += origin.size();
  }
  if (len > 255) return false;
  out.owner.assign(wire, len);
  out.type = a ? dns::toU16(dns::Type::A) : dns::toU16(dns::Type::AAAA);
  out.rrclass = dns::kClassIN;
  out.ttl = ttl;
  out.rdata.assign(reinterpret_cast<const char*>(bytes), a ? 4 : 16);
  out.nameCount = 0;
  return true;
}

struct ParseState {
  ErrorList& errors;
  ParsedRecords rrs;
  std::uint32_t defaultTtl = 3600;
  ParseSplit split;  // the top-level file's two-thread parse
};

void parseFile(const std::filesystem::path& path, ldns_rdf* originIn, ParseState& st, int depth);

// Adds a record to st.rrs; the first one that does not fit is an error.
void keep(ParseState& st, const ParsedRR& rr) {
  const bool wasOk = st.rrs.ok();
  if (!st.rrs.push_back(rr) && wasOk)
    st.errors.add(rr.where(), st.rrs.ok() ? "owner name longer than 255 bytes"
                                          : "the zone's names and RDATA pass 4 GiB: zone too big");
}

// The first byte at or after `pos` that is not a blank, a line break or in a
// comment: where the next record or directive starts.
std::size_t firstToken(const char* data, std::size_t size, std::size_t pos) {
  while (pos < size) {
    const char c = data[pos];
    if (c == ';') {
      const auto* nl = static_cast<const char*>(std::memchr(data + pos, '\n', size - pos));
      pos = nl ? static_cast<std::size_t>(nl - data) : size;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++pos;
    } else {
      break;
    }
  }
  return pos;
}

// Parses `size` bytes of `path`'s text from `data` (a whole file, or a piece
// that starts at a record with an explicit owner), starting with `origin`
// and st.defaultTtl, counting lines from `line`; leaves `origin`, `line` and
// st.defaultTtl as the text ends.
//
// A record, and an error, is reported at the line of its first token, counted
// here: ldns's count is the last line it read, which is a blank line after
// the record when there are some, or the last line of a record in
// parentheses.
void parseText(const std::filesystem::path& path, const std::string* fileName, const char* data,
               std::size_t size, RdfPtr& origin, int& line, ParseState& st, int depth) {
  if (size == 0) return;  // fmemopen refuses a size of 0
  FilePtr fp(::fmemopen(const_cast<char*>(data), size, "r"));
  if (!fp) {
    st.errors.add(path.string(), std::string("cannot read: ") + std::strerror(errno));
    return;
  }
  // ldns reads a character at a time (getc); the stream is this thread's
  // alone, so no lock per character.
  ::__fsetlocking(fp.get(), FSETLOCKING_BYCALLER);
  ldns_rdf* prevRaw = nullptr;
  // The last record was read without ldns (it is st.rrs.back()): ldns must
  // be told its owner should the next line inherit it.
  bool prevIsPlain = false;
  ParsedRR plain;  // reused: its owner's buffer is allocated once, not per record
  const int firstLine = line;
  std::size_t countedTo = 0;  // the line breaks before here are in countedLine
  int countedLine = firstLine;
  auto lineAt = [&](std::size_t pos) {  // positions only move forward
    if (pos > countedTo) {
      countedLine += static_cast<int>(std::count(data + countedTo, data + pos, '\n'));
      countedTo = pos;
    }
    return countedLine;
  };
  for (;;) {
    int c = std::fgetc(fp.get());
    if (c == EOF) break;
    std::ungetc(c, fp.get());
    long before = std::ftell(fp.get());
    const int recordLine =
        lineAt(firstToken(data, size, before >= 0 ? static_cast<std::size_t>(before) : countedTo));
    if (st.split.plainAddresses && origin && before >= 0) {
      const auto at = static_cast<std::size_t>(before);
      const auto* eol = static_cast<const char*>(std::memchr(data + at, '\n', size - at));
      const std::size_t end = eol ? static_cast<std::size_t>(eol - data) : size;
      const std::string_view originWire(reinterpret_cast<const char*>(ldns_rdf_data(origin.get())),
                                        ldns_rdf_size(origin.get()));
      if (parsePlainAddress({data + at, end - at}, originWire, st.defaultTtl, plain)) {
        prevIsPlain = true;
        name::toLower(reinterpret_cast<std::uint8_t*>(plain.owner.data()), plain.owner.size());
        // The line breaks (and CRs) after it are read with it, as ldns does.
        std::size_t next = end;
        while (next < size && (data[next] == '\n' || data[next] == '\r')) ++next;
        plain.file = fileName;
        plain.line = static_cast<std::uint32_t>(recordLine);
        keep(st, plain);
        if (st.split.plainCount) ++*st.split.plainCount;
        std::fseek(fp.get(), static_cast<long>(next), SEEK_SET);
        continue;
      }
    }
    if (prevIsPlain) {
      if (prevRaw) ldns_rdf_deep_free(prevRaw);
      const std::string_view prevOwner = st.rrs.owner(st.rrs.size() - 1);
      prevRaw = ldns_dname_new_frm_data(static_cast<std::uint16_t>(prevOwner.size()),
                                        prevOwner.data());  // lowercased: case is not carried on
      prevIsPlain = false;
    }
    ldns_rr* rawRr = nullptr;
    ldns_rdf* originRaw = origin.release();
    ldns_status s =
        ldns_rr_new_frm_fp_l(&rawRr, fp.get(), &st.defaultTtl, &originRaw, &prevRaw, &line);
    origin.reset(originRaw);
    RrPtr rr(rawRr);
    auto where = [&] { return fileLine(fileName, static_cast<std::uint32_t>(recordLine)); };
    switch (s) {
      case LDNS_STATUS_OK:
        if (rr) keep(st, convert(rr.get(), fileName, static_cast<std::uint32_t>(recordLine)));
        break;
      case LDNS_STATUS_SYNTAX_EMPTY:
      case LDNS_STATUS_SYNTAX_TTL:
      case LDNS_STATUS_SYNTAX_ORIGIN:
        break;
      case LDNS_STATUS_SYNTAX_INCLUDE: {
        // ldns drops the file name: re-read the directive ourselves.
        long after = std::ftell(fp.get());
        std::fseek(fp.get(), before, SEEK_SET);
        char buf[4096];
        std::string text;
        if (std::fgets(buf, sizeof buf, fp.get())) text = buf;
        std::fseek(fp.get(), after, SEEK_SET);
        auto pos = text.find("$INCLUDE");
        std::string rest = pos == std::string::npos ? "" : text.substr(pos + 8);
        char file[1024] = {0}, inclOrigin[1024] = {0};
        int n = std::sscanf(rest.c_str(), "%1023s %1023s", file, inclOrigin);
        if (n < 1) {
          st.errors.add(where(), "$INCLUDE needs a file name");
          break;
        }
        if (depth >= kMaxIncludeDepth) {
          st.errors.add(where(), "$INCLUDE nested deeper than " + std::to_string(kMaxIncludeDepth));
          break;
        }
        std::filesystem::path inc(file);
        if (inc.is_relative()) inc = path.parent_path() / inc;
        RdfPtr incOrigin;
        if (n >= 2 && inclOrigin[0] != ';') {
          ldns_rdf* o = nullptr;
          if (ldns_str2rdf_dname(&o, inclOrigin) != LDNS_STATUS_OK) {
            st.errors.add(where(), std::string("bad $INCLUDE origin '") + inclOrigin + "'");
            break;
          }
          incOrigin.reset(o);
        }
        parseFile(inc, incOrigin ? incOrigin.get() : origin.get(), st, depth + 1);
        break;
      }
      default:
        st.errors.add(where(), ldns_get_errorstr_by_id(s));
        break;
    }
  }
  if (prevRaw) ldns_rdf_deep_free(prevRaw);
  line = firstLine + static_cast<int>(std::count(data, data + size, '\n'));
}

// Where a second parser can start in `text`: the first record at or after
// byte `from` that begins a line with an owner name, found by following
// ldns's line tokenizer (ldns_fget_token_l: parentheses, quotes, comments,
// backslash escapes) from the start, and the directives ($ORIGIN, $TTL)
// before it. offset 0: no such record (or a construct this scan does not
// follow: form feeds, vertical tabs, NULs, unbalanced parentheses).
struct SplitPoint {
  std::size_t offset = 0;
  std::vector<std::pair<std::size_t, std::size_t>> directives;  // [begin, end) of each
};

bool startsOwner(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '@' || c == '*' || c == '_';
}

SplitPoint findSplit(const std::string& text, std::size_t from) {
  SplitPoint sp;
  int depth = 0;  // parentheses
  bool quoted = false, comment = false, content = false;
  int prev = 0;
  std::size_t first = 0;  // the record's first character ldns keeps
  for (std::size_t k = 0; k < text.size(); ++k) {
    int c = static_cast<unsigned char>(text[k]);
    if (c == '\r') c = ' ';
    if (c == '\f' || c == '\v' || c == '\0') return {};
    const bool escaped = prev == '\\';
    if ((c == '(' || c == ')') && !escaped && !quoted) {
      if (!comment) depth += c == '(' ? 1 : -1;
      prev = c;
      continue;
    }
    if (depth < 0) return {};
    if (c == ';' && !quoted && !escaped) comment = true;
    if (c == '"' && !comment && !escaped) quoted = !quoted;
    bool ends = false;
    if (c == '\n' && comment) {
      comment = false;
      ends = depth == 0 && content;
    } else if (comment || (c == '\n' && depth != 0)) {
      // inside a comment, or a line break inside parentheses
    } else if (c == '\n') {
      ends = content && !escaped;
    } else {
      if (!content) first = k;
      content = true;
    }
    if (!ends) {
      prev = c == '\\' && prev == '\\' ? 0 : c;
      continue;
    }
    if (text[first] == '$') sp.directives.emplace_back(first, k);
    // ldns skips the line breaks after a record; comment lines are skipped
    // here too (they end the first piece, where ldns reads them as nothing).
    std::size_t next = k + 1;
    for (;;) {
      while (next < text.size() && (text[next] == '\n' || text[next] == '\r')) ++next;
      if (next >= text.size() || text[next] != ';') break;
      const std::size_t eol = text.find('\n', next);
      if (eol == std::string::npos) return {};
      if (std::memchr(text.data() + next, '\f', eol - next) ||
          std::memchr(text.data() + next, '\v', eol - next))
        return {};
      next = eol;
    }
    if (next >= text.size()) return {};
    if (next >= from && startsOwner(text[next])) {
      sp.offset = next;
      return sp;
    }
    k = next - 1;
    depth = 0;
    quoted = comment = content = false;
    prev = 0;
  }
  return {};
}

// Parses a big file in two pieces on two threads: [0, split) here and
// [split, end) on a second thread, which starts with the origin and TTL the
// directives before the split give. The result is used only when it is
// what one pass gives: neither piece found an error (errors are reported by
// the one-pass parse, with their lines) and the first piece ends with the
// origin and TTL the second started with. false: parse in one pass.
bool parseHalves(const std::filesystem::path& path, const std::string* fileName,
                 const std::string& content, ldns_rdf* originIn, ParseState& st) {
  if (content.find("$INCLUDE") != std::string::npos) return false;
  const std::size_t from = st.split.from == SIZE_MAX ? content.size() / 2 : st.split.from;
  const SplitPoint sp = findSplit(content, from);
  if (sp.offset == 0) return false;
  RdfPtr guessOrigin(ldns_rdf_clone(originIn));
  std::uint32_t guessTtl = st.defaultTtl;
  if (!sp.directives.empty()) {
    std::string text;
    for (const auto& [b, e] : sp.directives) text.append(content, b, e - b).push_back('\n');
    ErrorList ignored;
    ParseState ds{ignored, {}, guessTtl, {}};
    int line = 1;
    parseText(path, fileName, text.data(), text.size(), guessOrigin, line, ds, 0);
    // A bad $ORIGIN leaves no origin (ldns drops it): one pass reports it.
    if (!ds.rrs.empty() || !guessOrigin) return false;
    guessTtl = ds.defaultTtl;
  }
  ErrorList errors1, errors2;
  ParseSplit pieces;  // each piece in one pass, records read as the whole file's are
  pieces.plainAddresses = st.split.plainAddresses;
  // (plainCount stays null: two threads would race on it; tests count one-pass parses)
  ParseState st1{errors1, {}, st.defaultTtl, pieces}, st2{errors2, {}, guessTtl, pieces};
  // Room in the first piece's arrays for every record (a line per record at
  // most) and its bytes (twice the text: a relative owner gains the origin in
  // wire form): the second piece is appended without a copy of the first.
  // Pages never written stay unmapped.
  st1.rrs.reserve(static_cast<std::size_t>(std::count(content.begin(), content.end(), '\n')) + 1,
                  2 * content.size());
  RdfPtr origin1(ldns_rdf_clone(originIn)), origin2(ldns_rdf_clone(guessOrigin.get()));
  int line1 = 1, line2 = 1;
  bothAtOnce([&] { parseText(path, fileName, content.data(), sp.offset, origin1, line1, st1, 0); },
             [&] {
               parseText(path, fileName, content.data() + sp.offset, content.size() - sp.offset,
                         origin2, line2, st2, 0);
             });
  if (!errors1.empty() || !errors2.empty() || st1.defaultTtl != guessTtl || !origin1 ||
      !guessOrigin || ldns_rdf_compare(origin1.get(), guessOrigin.get()) != 0)
    return false;
  // The second piece counted its lines from 1; the first ended at line1.
  st.rrs = std::move(st1.rrs);
  st.rrs.append(std::move(st2.rrs), static_cast<std::uint32_t>(line1 - 1));
  st.defaultTtl = st2.defaultTtl;
  if (st.split.took) *st.split.took = true;
  return true;
}

void parseFile(const std::filesystem::path& path, ldns_rdf* originIn, ParseState& st, int depth) {
  // The whole file in memory, read by ldns through fmemopen: ftell (taken
  // before every record, for $INCLUDE) is then a lookup, not an lseek
  // syscall per record, and reading is a memcpy (1M records: 13 % of the load).
  std::string content;
  {
    FilePtr file(std::fopen(path.c_str(), "re"));
    if (!file) {
      st.errors.add(path.string(), std::string("cannot open: ") + std::strerror(errno));
      return;
    }
    // Room for the whole file first: the string does not grow (and copy
    // itself) as the chunks come in (a 22 MB zone: ~60 ms less).
    struct stat sb {};
    if (::fstat(::fileno(file.get()), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
      content.reserve(static_cast<std::size_t>(sb.st_size));
    char chunk[1 << 16];
    std::size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) content.append(chunk, n);
    if (std::ferror(file.get())) {
      st.errors.add(path.string(), std::string("cannot read: ") + std::strerror(errno));
      return;
    }
  }
  if (content.empty()) return;  // fmemopen refuses a size of 0; an empty file has no records
  const std::string* fileName = internFileName(path.string());
  if (depth == 0 && st.rrs.empty() && content.size() >= st.split.minBytes &&
      parseHalves(path, fileName, content, originIn, st))
    return;
  RdfPtr origin(ldns_rdf_clone(originIn));
  int line = 1;
  parseText(path, fileName, content.data(), content.size(), origin, line, st, depth);
}

}  // namespace

const std::string* internFileName(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> names;  // nodes never move
  std::lock_guard<std::mutex> lock(mutex);
  return &*names.insert(path).first;
}

std::vector<ParsedRR> parseZoneFile(const std::string& path, const std::string& origin,
                                    ErrorList& errors) {
  return parseZoneFile(path, origin, errors, ParseSplit{});
}

std::vector<ParsedRR> parseZoneFile(const std::string& path, const std::string& origin,
                                    ErrorList& errors, const ParseSplit& split) {
  return parseZoneRecords(path, origin, errors, split).toVector();
}

ParsedRecords parseZoneRecords(const std::string& path, const std::string& origin,
                               ErrorList& errors, const ParseSplit& split) {
  ldns_rdf* o = nullptr;
  std::string abs = origin.empty() || origin.back() != '.' ? origin + "." : origin;
  if (ldns_str2rdf_dname(&o, abs.c_str()) != LDNS_STATUS_OK) {
    errors.add(path, "bad zone origin '" + origin + "'");
    return {};
  }
  RdfPtr originPtr(o);
  ParseState st{errors, {}, 3600, split};
  if (st.split.took) *st.split.took = false;
  parseFile(path, originPtr.get(), st, 0);
  return std::move(st.rrs);
}

std::string rrToText(const ParsedRR& rr) {
  std::string text = name::toText(name::asSpan(rr.owner)) + " " + std::to_string(rr.ttl) + " TYPE" +
                     std::to_string(rr.type) + " \\# " + std::to_string(rr.rdata.size());
  if (!rr.rdata.empty()) text += " ";
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : rr.rdata) {
    text.push_back(hex[c >> 4]);
    text.push_back(hex[c & 15]);
  }
  return text;
}

std::string recordText(std::span<const std::uint8_t> owner, std::uint16_t type, std::uint32_t ttl,
                       std::span<const std::uint8_t> rdata) {
  auto generic = [&] {
    ParsedRR rr;
    rr.owner.assign(reinterpret_cast<const char*>(owner.data()), owner.size());
    rr.type = type;
    rr.ttl = ttl;
    rr.rdata.assign(reinterpret_cast<const char*>(rdata.data()), rdata.size());
    return rrToText(rr);
  };
  if (rdata.size() > 65535) return generic();
  // The record in wire form, read back by ldns: it knows every type's fields.
  std::vector<std::uint8_t> wire(owner.begin(), owner.end());
  const std::uint16_t rdlength = static_cast<std::uint16_t>(rdata.size());
  const std::uint8_t fixed[10] = {static_cast<std::uint8_t>(type >> 8),
                                  static_cast<std::uint8_t>(type),
                                  0,
                                  static_cast<std::uint8_t>(dns::kClassIN),
                                  static_cast<std::uint8_t>(ttl >> 24),
                                  static_cast<std::uint8_t>(ttl >> 16),
                                  static_cast<std::uint8_t>(ttl >> 8),
                                  static_cast<std::uint8_t>(ttl),
                                  static_cast<std::uint8_t>(rdlength >> 8),
                                  static_cast<std::uint8_t>(rdlength)};
  wire.insert(wire.end(), std::begin(fixed), std::end(fixed));
  wire.insert(wire.end(), rdata.begin(), rdata.end());
  ldns_rr* raw = nullptr;
  std::size_t pos = 0;
  if (ldns_wire2rr(&raw, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK ||
      !raw || pos != wire.size()) {
    if (raw) ldns_rr_free(raw);
    return generic();
  }
  RrPtr rr(raw);
  std::unique_ptr<char, CharFree> text(ldns_rr2str_fmt(ldns_output_format_nocomments, rr.get()));
  if (!text) return generic();
  std::string out = text.get();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ' || out.back() == '\t'))
    out.pop_back();
  return out;
}

std::string messageToText(const std::uint8_t* data, std::size_t len) {
  ldns_pkt* pkt = nullptr;
  if (ldns_wire2pkt(&pkt, data, len) != LDNS_STATUS_OK || !pkt) return "(unparseable message)\n";
  char* text = ldns_pkt2str(pkt);
  std::string out = text ? text : "";
  std::free(text);
  ldns_pkt_free(pkt);
  return out;
}

bool messageAnswers(std::span<const std::uint8_t> msg, std::vector<TextRR>& out, std::string* err) {
  ldns_pkt* raw = nullptr;
  const ldns_status st = ldns_wire2pkt(&raw, msg.data(), msg.size());
  std::unique_ptr<ldns_pkt, PktFree> pkt(raw);
  if (st != LDNS_STATUS_OK || !pkt) {
    if (err) *err = std::string("malformed message: ") + ldns_get_errorstr_by_id(st);
    return false;
  }
  const ldns_rr_list* an = ldns_pkt_answer(pkt.get());
  const std::size_t n = an ? ldns_rr_list_rr_count(an) : 0;
  std::vector<TextRR> got;
  got.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(an, i);
    TextRR t;
    t.owner = rdfBytes(ldns_rr_owner(rr));
    name::toLower(reinterpret_cast<std::uint8_t*>(t.owner.data()), t.owner.size());
    t.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
    t.rrclass = static_cast<std::uint16_t>(ldns_rr_get_class(rr));
    // No comments: the default format appends key ids and NSEC3 notes after a ';'.
    std::unique_ptr<char, CharFree> text(ldns_rr2str_fmt(ldns_output_format_nocomments, rr));
    if (!text) {
      if (err) *err = "record " + std::to_string(i + 1) + " of the answer has no text form";
      return false;
    }
    t.text = text.get();
    while (!t.text.empty() &&
           (t.text.back() == '\n' || t.text.back() == ' ' || t.text.back() == '\t'))
      t.text.pop_back();
    if (t.type == dns::toU16(dns::Type::SOA)) {
      const ldns_rdf* serial = ldns_rr_rd_count(rr) >= 3 ? ldns_rr_rdf(rr, 2) : nullptr;
      if (!serial || ldns_rdf_size(serial) != 4) {
        if (err) *err = "an SOA without a serial";
        return false;
      }
      t.serial = ldns_rdf2native_int32(serial);
    }
    got.push_back(std::move(t));
  }
  out.insert(out.end(), std::make_move_iterator(got.begin()), std::make_move_iterator(got.end()));
  return true;
}

}  // namespace geodns::zones
