#pragma once
// The sampled query log: one query in N per worker (client, ECS, name, type,
// pool, region, rcode, transport) written to its own file as logfmt or JSON
// lines. Workers copy a fixed-size record into their own single-producer
// ring (no allocation, no lock; a full ring drops the record and counts it);
// a writer thread formats and writes every 200 ms.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/ip.h"
#include "core/log.h"
#include "core/wire/query.h"
#include "server/engine.h"

namespace geodns::server {

struct QueryLogRecord {
  std::int64_t unixMs = 0;
  IpAddress client;
  bool ecs = false;
  IpAddress ecsAddress;
  std::uint8_t ecsSource = 0, ecsScope = 0;
  std::uint8_t qname[255];
  std::uint8_t qnameLen = 0;
  std::uint16_t qtype = 0, rcode = 0;
  char pool[48] = {}, region[48] = {};
  Transport transport = Transport::Udp;
  bool dropped = false;  // no response was sent
};

class QueryLogSink {
 public:
  // Worker thread, after answering, with the query answer() parsed (no
  // second parse). Cheap unless this query is sampled; a message without a
  // question (dropped or unreadable) is not logged.
  void offer(const ServingSnapshot& snap, const wire::ParsedQuery& q, const QueryFacts& facts,
             const IpAddress& source, Transport t) noexcept;

 private:
  friend class QueryLog;
  static constexpr std::size_t kRing = 1024;
  std::uint32_t sample_ = 100;
  std::uint32_t n_ = 0;
  std::unique_ptr<QueryLogRecord[]> ring_ = std::make_unique<QueryLogRecord[]>(kRing);
  std::atomic<std::uint64_t> head_{0}, tail_{0};  // head: next write; tail: next read
  std::atomic<std::uint64_t> lost_{0};
};

class QueryLog {
 public:
  QueryLog(std::string path, std::uint32_t sample, log::Format format);
  ~QueryLog();
  bool open(std::string* err);
  QueryLogSink& addWorker();  // control thread, before the workers start
  void start();
  void stop();
  void reopen() noexcept { reopen_.store(true); }  // SIGHUP: for logrotate

 private:
  void run();
  void drain();
  std::string path_;
  std::uint32_t sample_;
  log::Format format_;
  std::FILE* file_ = nullptr;
  std::vector<std::unique_ptr<QueryLogSink>> sinks_;
  std::atomic<bool> stop_{false}, reopen_{false};
  std::thread thread_;
};

}  // namespace geodns::server
