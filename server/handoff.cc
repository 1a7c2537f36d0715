#include "server/handoff.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "core/wire/wire.h"

namespace geodns::server {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

const char* socketKindText(SocketKind k) noexcept {
  return k == SocketKind::Udp ? "udp" : "tcp";
}

namespace {

std::string errnoText(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

int timeoutMs(Duration d) noexcept {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms < 0 ? 0 : ms > 3600000 ? 3600000 : static_cast<int>(ms);
}

// Waits until fd is readable; false (with *err) on timeout or error.
bool waitReadable(int fd, Duration timeout, const char* what, std::string* err) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeoutMs(timeout));
    if (n > 0) return true;
    if (n == 0) {
      *err = std::string(what) + ": timed out";
      return false;
    }
    if (errno != EINTR) {
      *err = errnoText(what);
      return false;
    }
  }
}

// A sockaddr_un for `path` ("/..." or "@abstract"); false when it cannot be one.
bool unixAddress(std::string_view path, sockaddr_un& sun, socklen_t& len, std::string* err) {
  sun = {};
  sun.sun_family = AF_UNIX;
  if (path.empty() || (path[0] != '/' && path[0] != '@')) {
    *err = "Unix socket path '" + std::string(path) + "' is neither absolute nor @abstract";
    return false;
  }
  if (path.size() >= sizeof sun.sun_path) {
    *err = "Unix socket path '" + std::string(path) + "' is too long";
    return false;
  }
  std::memcpy(sun.sun_path, path.data(), path.size());
  if (path[0] == '@') {  // abstract: a leading NUL, and the length says where it ends
    sun.sun_path[0] = '\0';
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  } else {
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  }
  return true;
}

// ---- the handoff message --------------------------------------------------------
// header: "GDHO", version 1, descriptor count, last flag, 0
// per descriptor: kind, family (4/6), port, 16 address bytes, name length, name
constexpr std::uint8_t kMagic[4] = {'G', 'D', 'H', 'O'};
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kHeader = 8;
constexpr std::size_t kPerSocket = 1 + 1 + 2 + 16 + 1 + 255;
constexpr std::size_t kMaxMessage = kHeader + kFdsPerMessage * kPerSocket;

struct Description {
  SocketKind kind;
  int family;
  std::uint16_t port;
  std::uint8_t addr[16];
  std::string name;
};

void encodeAddress(const SocketAddress& a, std::uint8_t& family, std::uint16_t& port,
                   std::uint8_t* addr) {
  std::memset(addr, 0, 16);
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a.storage);
    family = 4;
    port = ntohs(in->sin_port);
    std::memcpy(addr, &in->sin_addr, 4);
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    family = 6;
    port = ntohs(in6->sin6_port);
    std::memcpy(addr, &in6->sin6_addr, 16);
  }
}

bool sameAddress(const Description& d, const SocketAddress& a) {
  std::uint8_t family = 0;
  std::uint16_t port = 0;
  std::uint8_t addr[16];
  encodeAddress(a, family, port, addr);
  return family == d.family && port == d.port && std::memcmp(addr, d.addr, 16) == 0;
}

}  // namespace

bool describeSocket(int fd, SocketKind& kind, SocketAddress& address, std::string* err) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    *err = "descriptor " + std::to_string(fd) + " is not a socket";
    return false;
  }
  address = {};
  address.length = sizeof address.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage), &address.length) != 0 ||
      (address.family() != AF_INET && address.family() != AF_INET6)) {
    *err = "socket " + std::to_string(fd) + " is not an IPv4 or IPv6 socket";
    return false;
  }
  if (type == SOCK_DGRAM) {
    kind = SocketKind::Udp;
    return true;
  }
  int listening = 0;
  len = sizeof listening;
  if (type == SOCK_STREAM && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
      listening) {
    kind = SocketKind::Tcp;
    return true;
  }
  *err = "socket " + std::to_string(fd) + " (" + address.str() +
         ") is neither UDP nor a listening TCP socket";
  return false;
}

// ---- Unix control sockets ------------------------------------------------------------

UniqueFd listenUnix(const std::string& path, std::string* err) {
  sockaddr_un sun;
  socklen_t len = 0;
  if (!unixAddress(path, sun, len, err)) return {};
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) {
    *err = errnoText("socket");
    return {};
  }
  if (path[0] == '/') ::unlink(path.c_str());  // a stale socket of a process that died
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0 ||
      ::listen(fd.get(), 4) != 0) {
    *err = errnoText(("bind/listen " + path).c_str());
    return {};
  }
  return fd;
}

UniqueFd connectUnix(const std::string& path, std::string* err) {
  sockaddr_un sun;
  socklen_t len = 0;
  if (!unixAddress(path, sun, len, err)) return {};
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) {
    *err = errnoText("socket");
    return {};
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sun), len) != 0) {
    *err = errnoText(("connect " + path).c_str());
    return {};
  }
  return fd;
}

UniqueFd acceptUnix(int listenFd, Duration timeout, std::string* err) {
  if (!waitReadable(listenFd, timeout, "accept", err)) return {};
  UniqueFd fd(::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) *err = errnoText("accept");
  return fd;
}

// ---- sending and receiving ---------------------------------------------------------------

bool sendSockets(int unixFd, std::span<const ListenSocket> sockets, std::string* err) {
  std::size_t i = 0;
  do {
    const std::size_t n = std::min(kFdsPerMessage, sockets.size() - i);
    std::uint8_t buf[kMaxMessage];
    Writer w(buf, sizeof buf);
    w.bytes(kMagic);
    w.u8(kVersion);
    w.u8(static_cast<std::uint8_t>(n));
    w.u8(i + n == sockets.size() ? 1 : 0);
    w.u8(0);
    int fds[kFdsPerMessage];
    for (std::size_t k = 0; k < n; ++k) {
      const ListenSocket& s = sockets[i + k];
      std::uint8_t family = 0;
      std::uint16_t port = 0;
      std::uint8_t addr[16];
      encodeAddress(s.address, family, port, addr);
      w.u8(static_cast<std::uint8_t>(s.kind));
      w.u8(family);
      w.u16(port);
      w.bytes(addr);
      const std::size_t nameLen = std::min<std::size_t>(s.name.size(), 255);
      w.u8(static_cast<std::uint8_t>(nameLen));
      w.bytes({reinterpret_cast<const std::uint8_t*>(s.name.data()), nameLen});
      fds[k] = s.fd.get();
    }
    iovec iov{buf, w.size()};
    alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(int) * kFdsPerMessage)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n > 0) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * n);
      std::memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    }
    ssize_t sent;
    do {
      sent = ::sendmsg(unixFd, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(w.size())) {
      *err = sent < 0 ? errnoText("sendmsg") : "sendmsg: short write";
      return false;
    }
    i += n;
  } while (i < sockets.size());
  return true;
}

bool receiveSockets(int unixFd, std::vector<ListenSocket>& out, Duration timeout,
                    std::string* err) {
  std::vector<ListenSocket> got;
  for (;;) {
    if (!waitReadable(unixFd, timeout, "receiving sockets", err)) return false;
    std::uint8_t buf[kMaxMessage];
    alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(int) * kFdsPerMessage)];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r;
    do {
      r = ::recvmsg(unixFd, &msg, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      *err = errnoText("recvmsg");
      return false;
    }
    // Own every descriptor that arrived before judging the message, so none leaks.
    std::vector<UniqueFd> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t k = 0; k < n; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
        fds.emplace_back(fd);
      }
    }
    if (r == 0) {
      *err = "receiving sockets: the peer closed the connection before the last message";
      return false;
    }
    if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
      *err = "receiving sockets: a message was truncated";
      return false;
    }
    Reader rd(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(r)));
    const auto magic = rd.bytes(4);
    const std::uint8_t version = rd.u8(), count = rd.u8(), last = rd.u8();
    rd.u8();
    if (!rd.ok() || std::memcmp(magic.data(), kMagic, 4) != 0 || version != kVersion) {
      *err = "receiving sockets: not a handoff message";
      return false;
    }
    if (count != fds.size()) {
      *err = "receiving sockets: " + std::to_string(count) + " described but " +
             std::to_string(fds.size()) + " descriptors arrived";
      return false;
    }
    for (std::size_t k = 0; k < count; ++k) {
      Description d;
      const std::uint8_t kind = rd.u8();
      d.family = rd.u8();
      d.port = rd.u16();
      const auto addr = rd.bytes(16);
      const std::uint8_t nameLen = rd.u8();
      const auto nm = rd.bytes(nameLen);
      if (!rd.ok() || kind > 1) {
        *err = "receiving sockets: a malformed description";
        return false;
      }
      d.kind = static_cast<SocketKind>(kind);
      std::memcpy(d.addr, addr.data(), 16);
      d.name.assign(reinterpret_cast<const char*>(nm.data()), nm.size());
      ListenSocket s;
      if (!describeSocket(fds[k].get(), s.kind, s.address, err)) return false;
      if (s.kind != d.kind || !sameAddress(d, s.address)) {
        *err = "receiving sockets: descriptor " + std::to_string(k) + " is " +
               socketKindText(s.kind) + " " + s.address.str() + ", not the " +
               socketKindText(d.kind) + " socket described";
        return false;
      }
      s.fd = std::move(fds[k]);
      s.name = std::move(d.name);
      got.push_back(std::move(s));
    }
    if (rd.remaining() != 0) {
      *err = "receiving sockets: trailing bytes in a message";
      return false;
    }
    if (last) break;
  }
  for (auto& s : got) out.push_back(std::move(s));
  return true;
}

// ---- systemd ------------------------------------------------------------------------------

ListenFdsParse parseListenFds(const char* listenPid, const char* listenFds,
                              const char* listenFdNames, long ourPid, ListenFds& out,
                              std::string* err) {
  if (!listenPid || !listenFds) return ListenFdsParse::NotForUs;
  auto number = [](std::string_view s, long& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
  };
  long pid = 0;
  if (!number(listenPid, pid) || pid <= 0) {
    *err = std::string("LISTEN_PID='") + listenPid + "' is not a process id";
    return ListenFdsParse::Bad;
  }
  if (pid != ourPid) return ListenFdsParse::NotForUs;  // meant for a process before an exec
  long n = 0;
  if (!number(listenFds, n) || n < 0 || n > 4096) {
    *err = std::string("LISTEN_FDS='") + listenFds + "' is not a descriptor count";
    return ListenFdsParse::Bad;
  }
  out.count = static_cast<int>(n);
  out.names.assign(static_cast<std::size_t>(n), "unknown");
  if (listenFdNames) {
    std::vector<std::string> names;
    std::string_view rest = listenFdNames;
    for (;;) {
      const auto colon = rest.find(':');
      names.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (n == 0 && names.size() == 1 && names[0].empty()) names.clear();
    if (names.size() != static_cast<std::size_t>(n)) {
      *err = "LISTEN_FDNAMES names " + std::to_string(names.size()) +
             " descriptors, LISTEN_FDS says " + std::to_string(n);
      return ListenFdsParse::Bad;
    }
    out.names = std::move(names);
  }
  return ListenFdsParse::Ok;
}

bool adoptListenFds(const ListenFds& fds, int firstFd, std::vector<ListenSocket>& out,
                    std::string* err) {
  std::vector<ListenSocket> got;
  for (int i = 0; i < fds.count; ++i) {
    const int fd = firstFd + i;
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
      *err = "socket activation: descriptor " + std::to_string(fd) + " is not open";
      for (auto& s : got) s.fd.release();  // systemd's, not ours to close on failure
      return false;
    }
    ListenSocket s;
    s.fd = UniqueFd(fd);
    s.name = i < static_cast<int>(fds.names.size()) ? fds.names[static_cast<std::size_t>(i)] : "";
    if (!describeSocket(fd, s.kind, s.address, err)) {
      *err = "socket activation (" + s.name + "): " + *err;
      s.fd.release();
      for (auto& g : got) g.fd.release();
      return false;
    }
    got.push_back(std::move(s));
  }
  for (auto& s : got) out.push_back(std::move(s));
  return true;
}

bool listenFdsFromEnvironment(std::vector<ListenSocket>& out, std::string* err) {
  ListenFds fds;
  const auto parsed =
      parseListenFds(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                     std::getenv("LISTEN_FDNAMES"), static_cast<long>(::getpid()), fds, err);
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (parsed == ListenFdsParse::NotForUs) return true;
  if (parsed == ListenFdsParse::Bad) return false;
  return adoptListenFds(fds, kListenFdsStart, out, err);
}

bool sdNotify(std::string_view state, std::string_view socketPath, std::string* err) {
  sockaddr_un sun;
  socklen_t len = 0;
  if (!unixAddress(socketPath, sun, len, err)) {
    *err = "NOTIFY_SOCKET: " + *err;
    return false;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    *err = errnoText("sd_notify: socket");
    return false;
  }
  ssize_t sent;
  do {
    sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&sun), len);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(state.size())) {
    *err = errnoText(("sd_notify to " + std::string(socketPath)).c_str());
    return false;
  }
  return true;
}

bool sdNotifyFromEnvironment(std::string_view state, std::string* err) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return true;
  return sdNotify(state, path, err);
}

}  // namespace geodns::server
