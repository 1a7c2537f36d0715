#pragma once
// Admin API tokens: the token file, constant-time matching, scopes.
#include <string>
#include <string_view>
#include <vector>

namespace geodns::server {

struct ApiToken {
  enum class Scope { Read, Write };
  std::string name;    // identity written to the audit log
  std::string secret;  // never logged
  Scope scope = Scope::Write;
};

// Reads a token file: one token per line, "NAME:SECRET", "NAME:SECRET:SCOPE"
// (SCOPE "read" or "write"; without it "write") or a bare SECRET (named
// "token-LINE"); blank lines and "#" comments are skipped; a UTF-8 BOM and
// whitespace around fields are ignored. Names are UTF-8 without control
// characters; secrets are at least 16 visible ASCII characters, each secret
// once. Returns false with `err` ("file:line: ...").
bool loadTokens(const std::string& path, std::vector<ApiToken>& out, std::string* err);
// The same over text already read; `where` names it in errors.
bool parseTokens(std::string_view text, const std::string& where, std::vector<ApiToken>& out,
                 std::string* err);

// Constant-time comparison of a presented token against every secret.
const ApiToken* matchToken(const std::vector<ApiToken>& tokens, const std::string& presented);

}  // namespace geodns::server
