#pragma once
// The admin router: cpp-httplib's request parser and routes run over the
// bytes of one complete request in memory (no socket), so the HTTP front,
// the tests and the fuzz target all go through the same code.
#include <memory>
#include <string>
#include <string_view>

namespace httplib {
class Server;
}

namespace geodns::server {

class AdminRouter {
 public:
  AdminRouter();
  ~AdminRouter();
  AdminRouter(const AdminRouter&) = delete;
  AdminRouter& operator=(const AdminRouter&) = delete;
  // Where the routes are added (before the first request).
  httplib::Server& server() noexcept;
  // One request through httplib's parser and the routes; `keepAlive` says
  // whether the connection may carry another. Any thread.
  std::string handle(std::string_view request, const std::string& peer, bool close,
                     bool* keepAlive);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A complete "Connection: close" HTTP/1.1 response with a JSON error body,
// for answers the front gives itself.
std::string cannedAdminResponse(int status, const char* reason, const std::string& message);

}  // namespace geodns::server
