#pragma once
// EtcdClient: the KvStore over etcd 3.4's v3 JSON gateway (POST /v3/kv/...,
// /v3/lease/..., /v3/watch as a streaming answer), on libcurl and
// nlohmann/json; no gRPC. The only file that includes curl is the .cc.
//
// Endpoints are tried in order starting from the last one that answered; a
// request moves on to the next endpoint when the connection fails (and, for
// requests that are safe to repeat, when the answer is lost or etcd says it
// has no leader). Writes whose answer was lost after sending are not
// repeated: they fail with maybeApplied set. With a user, the client
// authenticates (/v3/auth/authenticate) before its first request and again
// whenever etcd rejects the token (expiry, restart). Watches carry
// "hasleader" metadata so a member cut off from its cluster ends the stream
// instead of going quiet; a broken stream is resumed on the next endpoint
// from the last delivered revision.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "health/cluster/etcd_json.h"
#include "health/cluster/kv_store.h"

namespace geodns::health::cluster {

struct EtcdOptions {
  // "http://127.0.0.1:2379" or "https://etcd1.example:2379": scheme, host,
  // port; no user info, no path.
  std::vector<std::string> endpoints;
  std::chrono::milliseconds requestTimeout{2000};  // one request to one endpoint
  std::chrono::milliseconds connectTimeout{500};
  // How long a watch keeps trying to re-establish a broken stream (rounds
  // over every endpoint with backoff) before it returns Unavailable. Spans a
  // leader election (etcd's default election timeout is 1 s).
  std::chrono::milliseconds watchReconnectBudget{5000};
  // TLS: CA bundle that signed the etcd servers (empty: the system's), and
  // a client certificate and key for etcd's --client-cert-auth (both or
  // neither).
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  // Auth: empty user means none. The password is sent only to
  // /v3/auth/authenticate and never logged or put in an error.
  std::string user;
  std::string password;
  std::size_t maxResponseBytes = 64u << 20;  // a larger answer is an error, not a crash
};

struct EtcdStats {
  std::uint64_t requests = 0;         // HTTP requests sent (every attempt)
  std::uint64_t failovers = 0;        // moves to another endpoint
  std::uint64_t authentications = 0;  // successful /v3/auth/authenticate calls
  std::uint64_t watchReconnects = 0;  // streams re-established after a break
};

class EtcdClient final : public KvStore {
 public:
  // Checks the options (every problem at once, in the error message).
  // `clock` must outlive the client.
  static KvResult<std::unique_ptr<EtcdClient>> create(EtcdOptions options, const Clock& clock);
  ~EtcdClient() override;
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  KvResult<RangeResponse> range(const RangeRequest& r) override;
  KvResult<PutResponse> put(const PutRequest& r) override;
  KvResult<DeleteResponse> deleteRange(const DeleteRequest& r) override;
  KvResult<TxnResponse> txn(const TxnRequest& r) override;
  KvResult<LeaseGrant> leaseGrant(std::int64_t ttlSeconds) override;
  KvResult<LeaseGrant> leaseKeepAlive(std::int64_t id) override;
  KvResult<Unit> leaseRevoke(std::int64_t id) override;
  KvResult<std::int64_t> compact(std::int64_t revision) override;
  KvResult<Unit> watch(const WatchRequest& r, const WatchHandler& handler,
                       WatchCancel& cancel) override;

  // /v3/maintenance/status of one endpoint (index into options.endpoints),
  // without failover: which member it is and which member it thinks leads.
  KvResult<etcdjson::MemberStatus> memberStatus(std::size_t endpoint);

  EtcdStats stats() const;
  // The endpoint the next request tries first.
  std::size_t preferredEndpoint() const;

 private:
  struct Impl;
  explicit EtcdClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace geodns::health::cluster
