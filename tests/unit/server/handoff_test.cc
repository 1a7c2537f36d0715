// Socket handoff (SCM_RIGHTS), systemd socket activation and sd_notify, with
// real sockets on loopback.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "server/handoff.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::server;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

SocketAddress loopback(int family) {
  std::string err;
  auto a = parseHostPort(family == AF_INET ? "127.0.0.1:0" : "[::1]:0", &err);
  REQUIRE_MESSAGE(a, err);
  return *a;
}

// A bound UDP socket, or a listening TCP socket, on an ephemeral loopback port.
ListenSocket bound(SocketKind kind, int family, const char* name = "") {
  SocketAddress a = loopback(family);
  UniqueFd fd(
      ::socket(family, (kind == SocketKind::Udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  if (family == AF_INET6) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  REQUIRE(::bind(fd.get(), a.sa(), a.length) == 0);
  if (kind == SocketKind::Tcp) REQUIRE(::listen(fd.get(), 16) == 0);
  ListenSocket s;
  std::string err;
  REQUIRE_MESSAGE(describeSocket(fd.get(), s.kind, s.address, &err), err);
  s.fd = std::move(fd);
  s.name = name;
  return s;
}

ino_t inode(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_ino;
}

bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

// A datagram sent to `to` arrives on `fd`.
void checkUdpReceives(int fd, const SocketAddress& to) {
  UniqueFd client(::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const char ping[] = "ping";
  REQUIRE(::sendto(client.get(), ping, 4, 0, to.sa(), to.length) == 4);
  REQUIRE(readable(fd, 5000));
  char buf[16];
  CHECK(::recv(fd, buf, sizeof buf, 0) == 4);
  CHECK(std::memcmp(buf, ping, 4) == 0);
}

// A connection to `to` is accepted on `fd`.
void checkTcpAccepts(int fd, const SocketAddress& to) {
  UniqueFd client(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(client.get(), to.sa(), to.length) == 0);
  REQUIRE(readable(fd, 5000));
  UniqueFd conn(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(conn);
  REQUIRE(::send(client.get(), "x", 1, 0) == 1);
  char c = 0;
  CHECK(::recv(conn.get(), &c, 1, 0) == 1);
  CHECK(c == 'x');
}

struct Pair {
  UniqueFd a, b;
  Pair() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

// Sends raw handoff bytes with `fds` attached (for malformed messages).
void sendRaw(int unixFd, const std::vector<std::uint8_t>& bytes, const std::vector<int>& fds) {
  iovec iov{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  REQUIRE(::sendmsg(unixFd, &msg, 0) == static_cast<ssize_t>(bytes.size()));
}

int openFdCount() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("handoff: UDP and TCP listeners cross a Unix socket and stay the same sockets") {
  struct Case {
    const char* name;
    std::size_t udp4, tcp4, udp6, tcp6;
  };
  const Case cases[] = {
      {"one of each kind and family", 1, 1, 1, 1},
      {"none at all", 0, 0, 0, 0},
      {"70 sockets: three messages", 35, 35, 0, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::vector<ListenSocket> mine;
    for (std::size_t i = 0; i < c.udp4; ++i) mine.push_back(bound(SocketKind::Udp, AF_INET, "u4"));
    for (std::size_t i = 0; i < c.tcp4; ++i) mine.push_back(bound(SocketKind::Tcp, AF_INET, "t4"));
    for (std::size_t i = 0; i < c.udp6; ++i) mine.push_back(bound(SocketKind::Udp, AF_INET6, "u6"));
    for (std::size_t i = 0; i < c.tcp6; ++i)
      mine.push_back(bound(SocketKind::Tcp, AF_INET6, "[::1]:53 tcp"));
    std::vector<ino_t> inodes;
    for (const auto& s : mine) inodes.push_back(inode(s.fd.get()));

    // The old process (a thread here) sends, then closes its copies.
    Pair link;
    std::string sendErr;
    bool sentOk = false;
    std::thread old([&] {
      sentOk = sendSockets(link.a.get(), mine, &sendErr);
      mine.clear();  // closed: only the received copies keep the sockets open
    });
    std::vector<ListenSocket> got;
    std::string err;
    const bool ok = receiveSockets(link.b.get(), got, seconds(5), &err);
    old.join();
    REQUIRE_MESSAGE(sentOk, sendErr);
    REQUIRE_MESSAGE(ok, err);
    REQUIRE(got.size() == inodes.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(inode(got[i].fd.get()) == inodes[i]);  // the same socket, not a new one
      CHECK((::fcntl(got[i].fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
      if (got[i].kind == SocketKind::Udp)
        checkUdpReceives(got[i].fd.get(), got[i].address);
      else
        checkTcpAccepts(got[i].fd.get(), got[i].address);
    }
    if (c.udp6 > 0) {
      CHECK(got[c.udp4 + c.tcp4].address.family() == AF_INET6);
      CHECK(got.back().name == "[::1]:53 tcp");
      CHECK(got.back().kind == SocketKind::Tcp);
    }
  }
}

TEST_CASE("handoff: what the receiver refuses") {
  const int fdsBefore = openFdCount();
  {
    auto header = [](std::uint8_t count, std::uint8_t last) {
      return std::vector<std::uint8_t>{'G', 'D', 'H', 'O', 1, count, last, 0};
    };
    auto describe = [](std::vector<std::uint8_t> m, const ListenSocket& s, SocketKind claimed) {
      std::uint8_t addr[16] = {};
      const auto* in = reinterpret_cast<const sockaddr_in*>(&s.address.storage);
      std::memcpy(addr, &in->sin_addr, 4);
      const std::uint16_t port = ntohs(in->sin_port);
      m.push_back(static_cast<std::uint8_t>(claimed));
      m.push_back(4);
      m.push_back(static_cast<std::uint8_t>(port >> 8));
      m.push_back(static_cast<std::uint8_t>(port));
      m.insert(m.end(), addr, addr + 16);
      m.push_back(0);
      return m;
    };
    ListenSocket udp = bound(SocketKind::Udp, AF_INET);
    UniqueFd pipeR, pipeW;
    {
      int p[2];
      REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
      pipeR.reset(p[0]);
      pipeW.reset(p[1]);
    }
    struct Case {
      const char* name;
      std::function<void(int)> send;  // writes to the sender's end; may close it
      const char* error;
    };
    const Case cases[] = {
        {"nothing within the timeout", [](int) {}, "timed out"},
        {"the peer closes first", [](int fd) { ::shutdown(fd, SHUT_RDWR); }, "closed"},
        {"not a handoff message",
         [](int fd) {
           sendRaw(fd, {'H', 'E', 'L', 'O', 1, 0, 1, 0}, {});
         },
         "not a handoff message"},
        {"a later version",
         [](int fd) {
           sendRaw(fd, {'G', 'D', 'H', 'O', 2, 0, 1, 0}, {});
         },
         "not a handoff message"},
        {"more described than sent",
         [&](int fd) { sendRaw(fd, describe(header(1, 1), udp, SocketKind::Udp), {}); },
         "1 described but 0 descriptors"},
        {"a UDP socket described as TCP",
         [&](int fd) { sendRaw(fd, describe(header(1, 1), udp, SocketKind::Tcp), {udp.fd.get()}); },
         "not the tcp socket described"},
        {"a pipe described as UDP",
         [&](int fd) { sendRaw(fd, describe(header(1, 1), udp, SocketKind::Udp), {pipeR.get()}); },
         "is not a socket"},
        {"trailing bytes",
         [&](int fd) {
           auto m = describe(header(1, 1), udp, SocketKind::Udp);
           m.push_back(0);
           sendRaw(fd, m, {udp.fd.get()});
         },
         "trailing bytes"},
        {"no last message",
         [&](int fd) {
           sendRaw(fd, describe(header(1, 0), udp, SocketKind::Udp), {udp.fd.get()});
           ::shutdown(fd, SHUT_RDWR);
         },
         "closed"},
    };
    for (const auto& c : cases) {
      CAPTURE(std::string(c.name));
      Pair link;
      c.send(link.a.get());
      std::vector<ListenSocket> got;
      std::string err;
      CHECK_FALSE(receiveSockets(link.b.get(), got, milliseconds(50), &err));
      CHECK(got.empty());
      CHECK_MESSAGE(err.find(c.error) != std::string::npos, err);
    }
  }
  // Every descriptor that arrived with a refused message was closed.
  CHECK(openFdCount() == fdsBefore);
}

TEST_CASE("handoff: over a Unix socket at a path, as two processes would") {
  test::TempDir dir;
  const std::string path = (dir.path() / "handoff.sock").string();
  std::string err;
  UniqueFd server = listenUnix(path, &err);
  REQUIRE_MESSAGE(server, err);
  std::vector<ListenSocket> mine;
  mine.push_back(bound(SocketKind::Udp, AF_INET, "127.0.0.1:0"));
  const SocketAddress where = mine[0].address;
  std::thread old([&] {
    std::string e;
    UniqueFd conn = acceptUnix(server.get(), seconds(5), &e);
    if (conn) sendSockets(conn.get(), mine, &e);
  });
  UniqueFd client = connectUnix(path, &err);
  REQUIRE_MESSAGE(client, err);
  std::vector<ListenSocket> got;
  const bool ok = receiveSockets(client.get(), got, seconds(5), &err);
  old.join();
  REQUIRE_MESSAGE(ok, err);
  REQUIRE(got.size() == 1);
  CHECK(got[0].name == "127.0.0.1:0");
  // Both processes hold the socket now: datagrams reach whichever reads.
  checkUdpReceives(got[0].fd.get(), where);
  checkUdpReceives(mine[0].fd.get(), where);

  // A second listenUnix at the same path replaces a stale socket file.
  server.reset();
  UniqueFd again = listenUnix(path, &err);
  CHECK_MESSAGE(again, err);
  CHECK_FALSE(connectUnix((dir.path() / "absent.sock").string(), &err));
  CHECK_FALSE(listenUnix("relative.sock", &err));
  CHECK(err.find("neither absolute nor @abstract") != std::string::npos);
}

TEST_CASE("describeSocket: what can be a listener") {
  std::string err;
  SocketKind kind;
  SocketAddress addr;
  ListenSocket tcp = bound(SocketKind::Tcp, AF_INET);
  CHECK(describeSocket(tcp.fd.get(), kind, addr, &err));
  CHECK(kind == SocketKind::Tcp);
  // A connected TCP socket is not a listener.
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(::connect(client.get(), tcp.address.sa(), tcp.address.length) == 0);
  CHECK_FALSE(describeSocket(client.get(), kind, addr, &err));
  CHECK(err.find("neither UDP nor a listening TCP socket") != std::string::npos);
  // A Unix socket is not an IP socket.
  Pair p;
  CHECK_FALSE(describeSocket(p.a.get(), kind, addr, &err));
  CHECK(err.find("not an IPv4 or IPv6 socket") != std::string::npos);
  CHECK_FALSE(describeSocket(-1, kind, addr, &err));
}

TEST_CASE("parseListenFds: the variables systemd sets") {
  using P = ListenFdsParse;
  struct Case {
    const char* name;
    const char *pid, *fds, *names;
    P result;
    int count;
    std::vector<std::string> fdNames;
  };
  const Case cases[] = {
      {"not socket-activated", nullptr, nullptr, nullptr, P::NotForUs, 0, {}},
      {"for another process", "999", "2", nullptr, P::NotForUs, 0, {}},
      {"LISTEN_FDS unset", "42", nullptr, nullptr, P::NotForUs, 0, {}},
      {"two, unnamed", "42", "2", nullptr, P::Ok, 2, {"unknown", "unknown"}},
      {"two, named", "42", "2", "dns-udp:dns-tcp", P::Ok, 2, {"dns-udp", "dns-tcp"}},
      {"an empty name", "42", "2", "dns-udp:", P::Ok, 2, {"dns-udp", ""}},
      {"zero", "42", "0", nullptr, P::Ok, 0, {}},
      {"zero with an empty name list", "42", "0", "", P::Ok, 0, {}},
      {"too few names", "42", "2", "dns-udp", P::Bad, 0, {}},
      {"too many names", "42", "1", "a:b", P::Bad, 0, {}},
      {"a count that is no number", "42", "two", nullptr, P::Bad, 0, {}},
      {"a negative count", "42", "-1", nullptr, P::Bad, 0, {}},
      {"a pid that is no number", "4x2", "1", nullptr, P::Bad, 0, {}},
      {"pid 0", "0", "1", nullptr, P::Bad, 0, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    ListenFds out;
    std::string err;
    CHECK(parseListenFds(c.pid, c.fds, c.names, 42, out, &err) == c.result);
    if (c.result == P::Bad) CHECK_FALSE(err.empty());
    if (c.result != P::Ok) continue;
    CHECK(out.count == c.count);
    CHECK(out.names == c.fdNames);
  }
}

TEST_CASE("adoptListenFds: descriptors in a row become listeners, close-on-exec") {
  ListenSocket udp = bound(SocketKind::Udp, AF_INET);
  ListenSocket tcp = bound(SocketKind::Tcp, AF_INET);
  // Place them at two free descriptors in a row, as systemd places them at 3, 4.
  int first = 600;
  while (::fcntl(first, F_GETFD) >= 0 || ::fcntl(first + 1, F_GETFD) >= 0) first += 2;
  REQUIRE(::dup2(udp.fd.get(), first) == first);
  REQUIRE(::dup2(tcp.fd.get(), first + 1) == first + 1);  // dup2 clears close-on-exec
  ListenFds fds;
  fds.count = 2;
  fds.names = {"dns-udp", "dns-tcp"};
  std::vector<ListenSocket> got;
  std::string err;
  REQUIRE_MESSAGE(adoptListenFds(fds, first, got, &err), err);
  REQUIRE(got.size() == 2);
  CHECK(got[0].fd.get() == first);
  CHECK(got[0].kind == SocketKind::Udp);
  CHECK(got[0].name == "dns-udp");
  CHECK(got[0].address.port() == udp.address.port());
  CHECK(got[1].kind == SocketKind::Tcp);
  CHECK(got[1].name == "dns-tcp");
  for (const auto& s : got) CHECK((::fcntl(s.fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
  checkUdpReceives(got[0].fd.get(), got[0].address);

  // A pipe in the range is refused and nothing is adopted.
  int p[2];
  REQUIRE(::pipe(p) == 0);
  int second = first + 2;
  while (::fcntl(second, F_GETFD) >= 0) ++second;
  REQUIRE(::dup2(p[0], second) == second);
  ::close(p[0]);
  ::close(p[1]);
  ListenFds one;
  one.count = 1;
  one.names = {"pipe"};
  std::vector<ListenSocket> none;
  CHECK_FALSE(adoptListenFds(one, second, none, &err));
  CHECK(err.find("socket activation (pipe)") != std::string::npos);
  CHECK(none.empty());
  ::close(second);  // adoptListenFds leaves what it refused open: systemd's, not ours
  ListenFds gap;
  gap.count = 1;
  CHECK_FALSE(adoptListenFds(gap, second, none, &err));
  CHECK(err.find("is not open") != std::string::npos);
}

TEST_CASE("listenFdsFromEnvironment: sockets at fd 3 in a socket-activated child") {
  ListenSocket udp = bound(SocketKind::Udp, AF_INET);
  ListenSocket tcp = bound(SocketKind::Tcp, AF_INET6);
  const std::uint16_t udpPort = udp.address.port(), tcpPort = tcp.address.port();
  // The child is what systemd starts: sockets at 3 and 4, the variables set
  // for its own pid. It reports through its exit status.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Out of the way first: either socket may itself sit at 3 or 4.
    const int u = ::fcntl(udp.fd.get(), F_DUPFD, 100), t = ::fcntl(tcp.fd.get(), F_DUPFD, 100);
    if (u < 0 || t < 0 || ::dup2(u, 3) != 3 || ::dup2(t, 4) != 4) ::_exit(10);
    const std::string pid = std::to_string(::getpid());
    ::setenv("LISTEN_PID", pid.c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_FDNAMES", "dns-udp:dns-tcp", 1);
    std::vector<ListenSocket> got;
    std::string err;
    if (!listenFdsFromEnvironment(got, &err)) ::_exit(11);
    if (got.size() != 2 || got[0].fd.get() != 3 || got[1].fd.get() != 4) ::_exit(12);
    if (got[0].kind != SocketKind::Udp || got[0].address.port() != udpPort) ::_exit(13);
    if (got[1].kind != SocketKind::Tcp || got[1].address.port() != tcpPort) ::_exit(14);
    if (got[1].address.family() != AF_INET6 || got[1].name != "dns-tcp") ::_exit(15);
    if (std::getenv("LISTEN_PID") || std::getenv("LISTEN_FDS") || std::getenv("LISTEN_FDNAMES"))
      ::_exit(16);                    // a child of ours must not think it was socket-activated
    std::vector<ListenSocket> again;  // and a second call finds nothing
    if (!listenFdsFromEnvironment(again, &err) || !again.empty()) ::_exit(17);
    for (auto& s : got) s.fd.release();
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("sdNotify: one datagram to NOTIFY_SOCKET, filesystem or abstract") {
  test::TempDir dir;
  struct Case {
    const char* name;
    std::string path;
  };
  const Case cases[] = {
      {"a path", (dir.path() / "notify.sock").string()},
      {"the abstract namespace", "@geodns-test-notify-" + std::to_string(::getpid())},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, c.path.data(), c.path.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + c.path.size());
    if (c.path[0] == '@')
      sun.sun_path[0] = '\0';
    else
      ++len;
    REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&sun), len) == 0);

    std::string err;
    const std::string state = "MAINPID=4242\nREADY=1";
    REQUIRE_MESSAGE(sdNotify(state, c.path, &err), err);
    char buf[256];
    REQUIRE(readable(sock.get(), 5000));
    const ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == state);

    ::setenv("NOTIFY_SOCKET", c.path.c_str(), 1);
    REQUIRE_MESSAGE(sdNotifyFromEnvironment("STOPPING=1", &err), err);
    ::unsetenv("NOTIFY_SOCKET");
    REQUIRE(readable(sock.get(), 5000));
    const ssize_t m = ::recv(sock.get(), buf, sizeof buf, 0);
    CHECK(std::string(buf, static_cast<std::size_t>(m)) == "STOPPING=1");
  }
  std::string err;
  CHECK(sdNotifyFromEnvironment("READY=1", &err));  // not run by systemd: nothing to do
  CHECK_FALSE(sdNotify("READY=1", "relative/path", &err));
  CHECK(err.find("NOTIFY_SOCKET") != std::string::npos);
  CHECK_FALSE(sdNotify("READY=1", (dir.path() / "nobody.sock").string(), &err));
  CHECK_FALSE(sdNotify("READY=1", "/" + std::string(200, 'x'), &err));
  CHECK(err.find("too long") != std::string::npos);
}
