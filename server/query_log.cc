#include "server/query_log.h"

#include <cstring>
#include <ctime>

#include "core/wire/dns.h"
#include "core/wire/types.h"
#include "zones/zone_file.h"

namespace geodns::server {
namespace {

const char* rcodeText(std::uint16_t r) {
  const char* n = dns::rcodeName(r);
  return n ? n : "OTHER";
}

void copyName(char (&out)[48], const std::string& s) noexcept {
  const std::size_t n = std::min(s.size(), sizeof out - 1);
  std::memcpy(out, s.data(), n);
  out[n] = '\0';
}

std::string jsonString(const std::string& s) {
  char buf[2048];  // a name's text is at most ~1 KiB; escaping at most doubles it
  log::escape(s.c_str(), buf, sizeof buf);
  return "\"" + std::string(buf) + "\"";
}

// Query names may hold any byte: logfmt values are quoted when they need it.
std::string logfmtValue(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) plain = plain && c > 0x20 && c != '"' && c != '=' && c != '\\';
  return plain ? s : jsonString(s);
}

}  // namespace

void QueryLogSink::offer(const ServingSnapshot& snap, const wire::ParsedQuery& q,
                         const QueryFacts& facts, const IpAddress& source, Transport t) noexcept {
  if (++n_ < sample_) return;
  n_ = 0;
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_.load(std::memory_order_acquire) >= kRing) {
    lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!q.haveQuestion) return;
  QueryLogRecord& r = ring_[head % kRing];
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  r.unixMs = static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  r.client = source;
  r.ecs = q.ecs;
  if (q.ecs) {
    r.ecsAddress = IpAddress{};
    r.ecsAddress.family = q.ecsFamily == wire::kEcsFamilyIpv4 ? 4 : 6;
    std::memcpy(r.ecsAddress.bytes, q.ecsAddress, r.ecsAddress.size());
    r.ecsSource = q.ecsSource;
    r.ecsScope = facts.ecsScope;
  }
  r.qnameLen = static_cast<std::uint8_t>(q.qname.len);
  std::memcpy(r.qname, q.qname.data, q.qname.len);
  r.qtype = q.qtype;
  r.rcode = facts.rcode;
  r.pool[0] = r.region[0] = '\0';
  const gslb::Gslb& g = *snap.gslb;
  if (facts.pool >= 0 && static_cast<std::size_t>(facts.pool) < g.pools.size())
    copyName(r.pool, g.pools[static_cast<std::size_t>(facts.pool)].name);
  if (facts.region >= 0 && static_cast<std::size_t>(facts.region) < g.regions.size())
    copyName(r.region, g.regions[static_cast<std::size_t>(facts.region)].name);
  r.transport = t;
  r.dropped = facts.outcome == Outcome::Dropped;
  head_.store(head + 1, std::memory_order_release);
}

QueryLog::QueryLog(std::string path, std::uint32_t sample, log::Format format)
    : path_(std::move(path)), sample_(sample ? sample : 1), format_(format) {}

QueryLog::~QueryLog() {
  stop();
  if (file_) std::fclose(file_);
}

bool QueryLog::open(std::string* err) {
  std::FILE* f = std::fopen(path_.c_str(), "ae");
  if (!f) {
    *err = path_ + ": cannot open the query log: " + std::strerror(errno);
    return false;
  }
  if (file_) std::fclose(file_);
  file_ = f;
  return true;
}

QueryLogSink& QueryLog::addWorker() {
  sinks_.push_back(std::make_unique<QueryLogSink>());
  sinks_.back()->sample_ = sample_;
  return *sinks_.back();
}

void QueryLog::start() {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "geodns-qlog");
}

void QueryLog::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void QueryLog::run() {
  while (!stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (reopen_.exchange(false)) {
      std::string err;
      if (!open(&err)) GEODNS_LOG_LIMITED(Error, "%s", err.c_str());
    }
    drain();
  }
  drain();
}

void QueryLog::drain() {
  if (!file_) return;
  std::string out;
  for (auto& s : sinks_) {
    const std::uint64_t head = s->head_.load(std::memory_order_acquire);
    std::uint64_t tail = s->tail_.load(std::memory_order_relaxed);
    for (; tail < head; ++tail) {
      const QueryLogRecord& r = s->ring_[tail % QueryLogSink::kRing];
      char ts[40];
      log::formatTime(r.unixMs, ts, sizeof ts);
      const std::string qname = name::toText({r.qname, r.qnameLen});
      const std::string ecs =
          r.ecs ? r.ecsAddress.str() + "/" + std::to_string(r.ecsSource) : std::string();
      const char* transport = r.transport == Transport::Udp ? "udp" : "tcp";
      if (format_ == log::Format::Json) {
        out += "{\"ts\":\"" + std::string(ts) + "\",\"client\":\"" + r.client.str() + "\"";
        if (r.ecs) out += ",\"ecs\":\"" + ecs + "\",\"scope\":" + std::to_string(r.ecsScope);
        out += ",\"name\":" + jsonString(qname) + ",\"type\":\"" + dns::typeToText(r.qtype) +
               "\",\"rcode\":\"" + rcodeText(r.rcode) + "\"";
        if (r.pool[0]) out += ",\"pool\":" + jsonString(r.pool);
        if (r.region[0]) out += ",\"region\":" + jsonString(r.region);
        out += ",\"transport\":\"" + std::string(transport) + "\"";
        if (r.dropped) out += ",\"dropped\":true";
        out += "}\n";
      } else {
        out += "ts=" + std::string(ts) + " client=" + r.client.str();
        if (r.ecs) out += " ecs=" + ecs + " scope=" + std::to_string(r.ecsScope);
        out += " name=" + logfmtValue(qname) + " type=" + dns::typeToText(r.qtype) +
               " rcode=" + rcodeText(r.rcode);
        if (r.pool[0]) out += " pool=" + logfmtValue(r.pool);
        if (r.region[0]) out += " region=" + logfmtValue(r.region);
        out += " transport=" + std::string(transport);
        if (r.dropped) out += " dropped=true";
        out += "\n";
      }
    }
    s->tail_.store(tail, std::memory_order_release);
    const std::uint64_t lost = s->lost_.exchange(0, std::memory_order_relaxed);
    if (lost)
      GEODNS_LOG_LIMITED(Warn, "query log: %llu sampled record(s) dropped (writer behind)",
                         static_cast<unsigned long long>(lost));
  }
  if (!out.empty()) {
    std::fwrite(out.data(), 1, out.size(), file_);
    std::fflush(file_);
  }
}

}  // namespace geodns::server
