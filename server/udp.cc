#include "server/udp.h"

#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/log.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/query_log.h"
#include "server/rrl.h"
#include "server/secondary.h"

namespace geodns::server {

namespace {
bool isWildcard(const SocketAddress& a) {
  if (a.family() == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
  return std::memcmp(&in6->sin6_addr, &in6addr_any, sizeof(in6_addr)) == 0;
}
}  // namespace

void configureUdpSocket(int fd, const SocketAddress& addr) {
  int one = 1;
  if (isWildcard(addr)) {
    // Reply from the address the query was sent to.
    if (addr.family() == AF_INET)
      ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    else
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  }
  int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  timeval tv{0, 200 * 1000};  // wake up to notice shutdown
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int openUdpSocket(const SocketAddress& addr, std::string* err) {
  int fd = ::socket(addr.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.family() == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  configureUdpSocket(fd, addr);
  if (::bind(fd, addr.sa(), addr.length) != 0) {
    *err = "bind " + addr.str() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

struct UdpWorker::Buffers {
  static constexpr std::size_t kInSize = 4096;  // larger queries are malformed anyway
  static constexpr std::size_t kOutSize = 65535;
  static constexpr std::size_t kCtlSize = 128;
  std::uint8_t in[kBatch][kInSize];
  std::uint8_t out[kBatch][kOutSize];
  alignas(cmsghdr) std::uint8_t ctl[kBatch][kCtlSize];
  alignas(cmsghdr) std::uint8_t outCtl[kBatch][kCtlSize];
  sockaddr_storage peer[kBatch];
  iovec inIov[kBatch];
  iovec outIov[kBatch];
  mmsghdr inMsg[kBatch];
  mmsghdr outMsg[kBatch];
};

UdpWorker::UdpWorker(int fd, const SnapshotHolder& snapshots, const std::atomic<bool>& stop,
                     QueryCounters* counters, Rrl* rrl, QueryLogSink* queryLog, NotifyInbox* inbox)
    : fd_(fd),
      snapshots_(snapshots),
      stop_(stop),
      counters_(counters),
      rrl_(rrl),
      queryLog_(queryLog),
      inbox_(inbox),
      buf_(std::make_unique<Buffers>()) {}

UdpWorker::~UdpWorker() {
  join();
  if (fd_ >= 0) ::close(fd_);
}

void UdpWorker::start() {
  thread_ = std::thread([this] { run(); });
}

void UdpWorker::join() {
  if (thread_.joinable()) thread_.join();
}

// Copies the destination address of a query into the control data of its reply.
static std::size_t replyControl(const msghdr& in, std::uint8_t* out, std::size_t cap) noexcept {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&in)); c;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&in), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
        CMSG_SPACE(sizeof(in_pktinfo)) <= cap) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi_spec_dst = info.ipi_addr;
      info.ipi_ifindex = 0;
      std::memset(out, 0, CMSG_SPACE(sizeof info));
      auto* oc = reinterpret_cast<cmsghdr*>(out);
      oc->cmsg_level = IPPROTO_IP;
      oc->cmsg_type = IP_PKTINFO;
      oc->cmsg_len = CMSG_LEN(sizeof info);
      std::memcpy(CMSG_DATA(oc), &info, sizeof info);
      return CMSG_SPACE(sizeof info);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        CMSG_SPACE(sizeof(in6_pktinfo)) <= cap) {
      std::memset(out, 0, CMSG_SPACE(sizeof(in6_pktinfo)));
      auto* oc = reinterpret_cast<cmsghdr*>(out);
      oc->cmsg_level = IPPROTO_IPV6;
      oc->cmsg_type = IPV6_PKTINFO;
      oc->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      std::memcpy(CMSG_DATA(oc), CMSG_DATA(c), sizeof(in6_pktinfo));
      return CMSG_SPACE(sizeof(in6_pktinfo));
    }
  }
  return 0;
}

void UdpWorker::run() noexcept {
  Buffers& b = *buf_;
  SnapshotHolder::Reader reader(snapshots_);
  // recvmmsg writes the lengths of the entries it filled: those (all of them
  // the first time) are set up again before the next call, not the whole batch.
  std::size_t filled = kBatch;
  // The waits below are short: the default 50 us timer slack would stretch a
  // 100 us wait by half.
  ::prctl(PR_SET_TIMERSLACK, 5000UL, 0UL, 0UL, 0UL);
  std::int64_t lastBatchNs = 0;
  while (!stop_.load(std::memory_order_relaxed)) {
    for (std::size_t i = 0; i < filled; ++i) {
      b.inIov[i] = {b.in[i], Buffers::kInSize};
      std::memset(&b.inMsg[i], 0, sizeof(mmsghdr));
      b.inMsg[i].msg_hdr.msg_name = &b.peer[i];
      b.inMsg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      b.inMsg[i].msg_hdr.msg_iov = &b.inIov[i];
      b.inMsg[i].msg_hdr.msg_iovlen = 1;
      b.inMsg[i].msg_hdr.msg_control = b.ctl[i];
      b.inMsg[i].msg_hdr.msg_controllen = Buffers::kCtlSize;
    }
    int n = ::recvmmsg(fd_, b.inMsg, kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) {  // timeout (checks stop_) or a transient error: set everything up again
      filled = kBatch;
      continue;
    }
    filled = static_cast<std::size_t>(n);
    const ServingSnapshot* snap = reader.refresh();  // once per batch
    std::int64_t waitNs = 0;
    if (const std::int64_t maxWaitNs = std::int64_t{snap->limits.udpBatchWaitUs} * 1000) {
      timespec ts;
      ::clock_gettime(CLOCK_MONOTONIC, &ts);
      const std::int64_t nowNs = std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
      waitNs = udpBatchWaitNs(filled, nowNs - lastBatchNs, kBatch, maxWaitNs);
      lastBatchNs = nowNs;
    }
    const bool limiting = rrl_ && snap->rrl.enabled;
    std::uint32_t nowSec = 0;
    if (limiting) {
      timespec ts;
      ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
      nowSec = static_cast<std::uint32_t>(ts.tv_sec);
    }
    unsigned out = 0;
    wire::ParsedQuery query;  // answer() resets it per message; the query log reads it
    for (int i = 0; i < n; ++i) {
      const msghdr& h = b.inMsg[i].msg_hdr;
      std::size_t len = (h.msg_flags & MSG_TRUNC) ? 0 : b.inMsg[i].msg_len;
      const IpAddress source =
          IpAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&b.peer[i]));
      QueryFacts facts;
      std::size_t rlen = answer(*snap, {b.in[i], len}, {b.out[out], Buffers::kOutSize},
                                Transport::Udp, source, &facts, &query);
      if (counters_) countQuery(*snap, facts, *counters_);
      if (queryLog_) queryLog_->offer(*snap, query, facts, source, Transport::Udp);
      if (facts.outcome == Outcome::Notify && inbox_) inbox_->post(query.qname.span());
      if (rlen == 0) continue;
      if (limiting) {
        const RrlVerdict v =
            rrl_->check(snap->rrl, source, {b.out[out], rlen}, nowSec, slipCounter_);
        if (v == RrlVerdict::Drop) {
          if (counters_) counters_->rrlDropped.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (v == RrlVerdict::Slip) {
          if (counters_) counters_->rrlSlipped.fetch_add(1, std::memory_order_relaxed);
          rlen = truncateToQuestion({b.out[out], Buffers::kOutSize}, rlen);
          if (rlen == 0) continue;
        }
      }
      b.outIov[out] = {b.out[out], rlen};
      msghdr& o = b.outMsg[out].msg_hdr;
      std::memset(&b.outMsg[out], 0, sizeof(mmsghdr));
      o.msg_name = &b.peer[i];
      o.msg_namelen = h.msg_namelen;
      o.msg_iov = &b.outIov[out];
      o.msg_iovlen = 1;
      std::size_t clen = replyControl(h, b.outCtl[out], Buffers::kCtlSize);
      o.msg_control = clen ? b.outCtl[out] : nullptr;
      o.msg_controllen = clen;
      ++out;
    }
    queries_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    if (counters_) {  // this worker's own counters: a plain add, no contention
      counters_->udpBatches.fetch_add(1, std::memory_order_relaxed);
      counters_->udpDatagrams.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    }
    unsigned sent = 0;
    while (sent < out) {
      int s = ::sendmmsg(fd_, b.outMsg + sent, out - sent, 0);
      if (counters_) counters_->udpSendCalls.fetch_add(1, std::memory_order_relaxed);
      if (s > 0) {
        sent += static_cast<unsigned>(s);
      } else if (s < 0 && errno == EINTR) {
        continue;
      } else {
        GEODNS_LOG_LIMITED(Warn, "udp: send failed: %s", std::strerror(errno));
        ++sent;  // this one failed (e.g. unreachable peer): skip it
      }
    }
    if (waitNs > 0) {
      if (counters_) counters_->udpBatchWaits.fetch_add(1, std::memory_order_relaxed);
      const timespec w{0, static_cast<long>(waitNs)};
      ::clock_nanosleep(CLOCK_MONOTONIC, 0, &w, nullptr);
    }
  }
}

}  // namespace geodns::server
