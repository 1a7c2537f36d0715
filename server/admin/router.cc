#include "server/admin/router.h"

#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#include "core/log.h"
#include "server/admin/handler.h"
#include "server/admin/text.h"

namespace geodns::server {

using admin::dumpJson;
using admin::iequals;
using admin::trim;

namespace {

// One buffered request in, the response appended to `out`.
class MemoryStream final : public httplib::Stream {
 public:
  MemoryStream(std::string_view in, std::string& out, const std::string& peer)
      : in_(in), out_(out), peer_(peer) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_;
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "";
    port = 0;
  }
  // Below FD_SETSIZE: httplib answers 500 to a stream whose socket is above it.
  socket_t socket() const override { return 0; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string& out_;
  const std::string& peer_;
};

std::string cannedResponse(int status, const char* reason, const std::string& message) {
  const std::string body = dumpJson({{"error", message}, {"field", nullptr}});
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The request without its Range headers: no endpoint serves parts, and
// cpp-httplib would otherwise cut any answer, errors included, into
// multipart/byteranges (found by fuzz_admin_api).
bool isRangeLine(std::string_view line) {
  const std::size_t colon = line.find(':');
  return colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), "Range");
}

std::string_view withoutRange(std::string_view request, std::string& scratch) {
  // Head lines after the request line, up to the blank line.
  std::vector<std::pair<std::size_t, std::size_t>> drop;
  std::size_t from = request.find('\n');
  while (from != std::string_view::npos && ++from < request.size()) {
    const std::size_t nl = request.find('\n', from);
    const std::size_t end = nl == std::string_view::npos ? request.size() : nl + 1;
    const std::string_view line =
        trim(request.substr(from, end - from - (nl != std::string_view::npos)));
    if (line.empty()) break;
    if (isRangeLine(line)) drop.push_back({from, end});
    from = nl;
  }
  if (drop.empty()) return request;
  scratch.clear();
  std::size_t at = 0;
  for (const auto& [b, e] : drop) {
    scratch.append(request.substr(at, b - at));
    at = e;
  }
  scratch.append(request.substr(at));
  return scratch;
}

}  // namespace

class AdminRouter::Impl final : public httplib::Server {
 public:
  // One request through httplib's parser and the routes; `keepAlive` says
  // whether the connection may carry another.
  std::string handle(std::string_view request, const std::string& peer, bool close,
                     bool* keepAlive) {
    std::string out, scratch;
    MemoryStream strm(withoutRange(request, scratch), out, peer);
    bool closed = false;
    bool ok = false;
    try {
      ok = process_request(strm, close, closed, nullptr);
    } catch (const std::exception& e) {  // the parser itself, not a handler
      GEODNS_LOG_LIMITED(Error, "admin: request failed: %s", e.what());
      out = cannedResponse(500, "Internal Server Error", "internal error");
      ok = false;
    }
    if (out.empty()) {  // nothing parsable (e.g. an empty request)
      out = cannedResponse(400, "Bad Request", "malformed request");
      ok = false;
    }
    if (keepAlive) *keepAlive = ok && !close && !closed;
    return out;
  }
};

// ---- the HTTP front: accept, read whole requests, run them, write answers ----

AdminRouter::AdminRouter() : impl_(std::make_unique<Impl>()) {}
AdminRouter::~AdminRouter() = default;

httplib::Server& AdminRouter::server() noexcept {
  return *impl_;
}

std::string AdminRouter::handle(std::string_view request, const std::string& peer, bool close,
                                bool* keepAlive) {
  return impl_->handle(request, peer, close, keepAlive);
}

std::string cannedAdminResponse(int status, const char* reason, const std::string& message) {
  return cannedResponse(status, reason, message);
}

}  // namespace geodns::server
