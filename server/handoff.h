#pragma once
// Listening sockets that outlive a process, for restarts that lose no query
// (issue 15 item 5; the sequence is in docs/design/transfer.md):
//  - handoff: the running process passes its bound UDP and TCP listeners to its
//    successor over a Unix socket (SCM_RIGHTS), so the kernel never has a
//    moment without a socket on the port;
//  - systemd socket activation: adopt the sockets systemd passes (LISTEN_FDS,
//    as sd_listen_fds(3)), and report readiness (sd_notify(3)) by writing to
//    $NOTIFY_SOCKET ourselves: the protocol is one datagram, and linking
//    libsystemd for it would add a dependency for ~40 lines.
// Control side only (start-up, replace, stop): these calls block for at most
// the timeout given and allocate.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.h"
#include "core/clock.h"

namespace geodns::server {

// An owned file descriptor: closed on destruction.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

enum class SocketKind : std::uint8_t { Udp, Tcp };
const char* socketKindText(SocketKind k) noexcept;  // "udp", "tcp"

// A listening socket and what it is.
struct ListenSocket {
  UniqueFd fd;
  SocketKind kind = SocketKind::Udp;
  SocketAddress address;  // as bound (getsockname)
  std::string name;  // the listener it serves ("127.0.0.1:53"), or systemd's FileDescriptorName
};

// What the kernel says `fd` is: an IPv4/IPv6 UDP socket, or a listening TCP
// socket (SO_ACCEPTCONN), and its bound address. False, with the reason in
// *err, for anything else (a pipe, a Unix socket, a connected TCP socket).
bool describeSocket(int fd, SocketKind& kind, SocketAddress& address, std::string* err);

// ---- handoff between two processes -------------------------------------------

// A Unix SOCK_SEQPACKET socket listening at `path` (a stale file there is
// removed first), for the running process to hand its sockets out.
UniqueFd listenUnix(const std::string& path, std::string* err);
// Connects to `path` (the successor asking the running process).
UniqueFd connectUnix(const std::string& path, std::string* err);
// Accepts one connection on a listenUnix() socket, waiting at most `timeout`.
UniqueFd acceptUnix(int listenFd, Duration timeout, std::string* err);

// Sends every socket in `sockets` over the connected SOCK_SEQPACKET Unix
// socket `unixFd`: messages of up to kFdsPerMessage descriptors (SCM_RIGHTS)
// each carrying the kind, address and name of its descriptors; the last one
// flagged. The sender keeps its descriptors (close them once the successor
// has confirmed it serves, not before: the kernel queues datagrams and
// connections on the shared socket meanwhile).
inline constexpr std::size_t kFdsPerMessage = 32;
bool sendSockets(int unixFd, std::span<const ListenSocket> sockets, std::string* err);

// Receives what sendSockets sent, waiting at most `timeout` for each message.
// Each received descriptor is close-on-exec and is checked against its
// description with describeSocket(); any mismatch, a truncated control
// message, or a peer that closes early fails the whole handoff (every
// descriptor received so far is closed).
bool receiveSockets(int unixFd, std::vector<ListenSocket>& out, Duration timeout, std::string* err);

// ---- systemd socket activation ----------------------------------------------------

inline constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

struct ListenFds {
  int count = 0;
  std::vector<std::string> names;  // one per descriptor; "unknown" when not given
};

enum class ListenFdsParse : std::uint8_t {
  NotForUs,  // LISTEN_PID or LISTEN_FDS unset, or LISTEN_PID is another process
  Ok,
  Bad,  // malformed: the reason in *err
};

// Parses the variables as sd_listen_fds_with_names(3) does (each may be null:
// unset). LISTEN_FDNAMES, when set, must name every descriptor (colon-separated).
ListenFdsParse parseListenFds(const char* listenPid, const char* listenFds,
                              const char* listenFdNames, long ourPid, ListenFds& out,
                              std::string* err);

// Takes descriptors firstFd .. firstFd+count-1 (systemd's: kListenFdsStart):
// sets close-on-exec and describes each. False when one is not a UDP or
// listening TCP socket (systemd then started us with a unit we cannot serve).
bool adoptListenFds(const ListenFds& fds, int firstFd, std::vector<ListenSocket>& out,
                    std::string* err);

// The whole of sd_listen_fds(unset_environment=1): reads and parses the
// environment, adopts from fd 3, and unsets the three variables so that no
// child inherits them. True with `out` empty when we were not socket-activated.
bool listenFdsFromEnvironment(std::vector<ListenSocket>& out, std::string* err);

// Sends one sd_notify(3) datagram ("READY=1", "STOPPING=1",
// "MAINPID=1234\nREADY=1", "STATUS=...") to `socketPath`: a filesystem path,
// or "@name" for the abstract namespace. False with the reason otherwise.
bool sdNotify(std::string_view state, std::string_view socketPath, std::string* err);
// sdNotify to $NOTIFY_SOCKET; true and nothing sent when it is unset (not run
// by systemd, or Type= is not notify).
bool sdNotifyFromEnvironment(std::string_view state, std::string* err);

}  // namespace geodns::server
