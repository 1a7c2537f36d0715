#include "server/admin/tokens.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/log.h"
#include "server/admin/text.h"

namespace geodns::server {

using admin::hasControl;
using admin::trim;
using admin::validUtf8;
using admin::visibleAscii;

bool parseTokens(std::string_view text, const std::string& where, std::vector<ApiToken>& out,
                 std::string* err) {
  out.clear();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a BOM from an editor
  std::unordered_map<std::string, int> seen;                       // secret -> line
  int n = 0;
  auto bad = [&](const std::string& why) {
    if (err) *err = where + ":" + std::to_string(n) + ": " + why;
    out.clear();
    return false;
  };
  while (!text.empty()) {
    ++n;
    const std::size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    ApiToken t;
    std::vector<std::string_view> fields;
    for (std::size_t from = 0;;) {
      const std::size_t colon = line.find(':', from);
      fields.push_back(
          trim(line.substr(from, colon == std::string_view::npos ? colon : colon - from)));
      if (colon == std::string_view::npos) break;
      from = colon + 1;
    }
    if (fields.size() > 3)
      return bad("too many ':' (expected NAME:SECRET or NAME:SECRET:read|write)");
    if (fields.size() == 1) {
      t.name = "token-" + std::to_string(n);
      t.secret = std::string(fields[0]);
    } else {
      t.name = std::string(fields[0]);
      t.secret = std::string(fields[1]);
    }
    if (fields.size() == 3) {
      if (fields[2] == "read")
        t.scope = ApiToken::Scope::Read;
      else if (fields[2] == "write")
        t.scope = ApiToken::Scope::Write;
      else
        return bad("unknown scope '" + std::string(fields[2]) + "' (read or write)");
    }
    if (t.name.empty()) return bad("a token needs a name before ':'");
    if (!validUtf8(t.name) || hasControl(t.name))
      return bad("the token name is not UTF-8 text without control characters");
    if (t.secret.size() < 16) return bad("a token needs a name and a secret of at least 16 bytes");
    if (!visibleAscii(t.secret))
      return bad("a secret holds visible ASCII characters only (no spaces or control characters)");
    if (auto [it, fresh] = seen.emplace(t.secret, n); !fresh)
      return bad("the same secret as line " + std::to_string(it->second) +
                 ": two names for one secret make the audit ambiguous");
    out.push_back(std::move(t));
  }
  if (out.empty()) {
    if (err) *err = where + ": no token in the admin token file";
    return false;
  }
  return true;
}

bool loadTokens(const std::string& path, std::vector<ApiToken>& out, std::string* err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    *err = path + ": is a directory, not an admin token file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = path + ": cannot read the admin token file: " + std::strerror(errno);
    return false;
  }
  if (st.st_mode & 0077)
    GEODNS_LOG_WARN("admin: %s is readable by group or others; chmod 600 it", path.c_str());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *err = path + ": cannot read the admin token file";
    return false;
  }
  return parseTokens(text.str(), path, out, err);
}

const ApiToken* matchToken(const std::vector<ApiToken>& tokens, const std::string& presented) {
  const ApiToken* found = nullptr;
  for (const ApiToken& t : tokens) {  // every token is compared: timing says nothing
    unsigned char diff = t.secret.size() != presented.size();
    const std::size_t n = std::max(t.secret.size(), presented.size());
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned char a = i < t.secret.size() ? static_cast<unsigned char>(t.secret[i]) : 0;
      const unsigned char b = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff |= static_cast<unsigned char>(a ^ b);
    }
    if (diff == 0 && !found) found = &t;
  }
  return found;
}

}  // namespace geodns::server
