#pragma once
// The JSON of etcd 3.4's v3 gateway (grpc-gateway over the v3 protobufs):
// request bodies, answers, errors, and the streaming watch format. Pure
// functions, no I/O, so tests can feed them captured or hand-made bytes.
//
// Conventions of the gateway this code relies on: keys and values are
// base64; 64-bit integers are JSON strings on output (numbers are accepted
// too); fields with zero values are omitted; enums are names ("DELETE").
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "health/cluster/kv_store.h"

namespace geodns::health::cluster::etcdjson {

// ---- requests ----
std::string encodeRange(const RangeRequest& r);
std::string encodePut(const PutRequest& r);
std::string encodeDelete(const DeleteRequest& r);
std::string encodeTxn(const TxnRequest& r);
std::string encodeLeaseGrant(std::int64_t ttlSeconds);
std::string encodeLeaseId(std::int64_t id);  // keepalive, revoke
std::string encodeCompact(std::int64_t revision);
std::string encodeWatchCreate(const WatchRequest& r, std::int64_t startRevision);
std::string encodeAuthenticate(std::string_view user, std::string_view password);

// ---- answers (HTTP 200 bodies) ----
KvResult<RangeResponse> decodeRange(std::string_view body);
KvResult<PutResponse> decodePut(std::string_view body);
KvResult<DeleteResponse> decodeDelete(std::string_view body);
KvResult<TxnResponse> decodeTxn(std::string_view body);
KvResult<LeaseGrant> decodeLeaseGrant(std::string_view body);
// /v3/lease/keepalive answers as a stream of one {"result": ...}; a missing
// TTL means the lease is gone (NotFound).
KvResult<LeaseGrant> decodeKeepAlive(std::string_view body);
// Any answer whose only use is its header revision (revoke, compaction).
KvResult<std::int64_t> decodeHeaderRevision(std::string_view body);
KvResult<std::string> decodeAuthToken(std::string_view body);
struct MemberStatus {
  std::uint64_t memberId = 0;
  std::uint64_t leader = 0;  // 0: this member knows no leader
  std::int64_t revision = 0;
  std::uint64_t raftTerm = 0;
  std::string version;
};
KvResult<MemberStatus> decodeStatus(std::string_view body);

// ---- errors ----
// The gRPC status code etcd put in an error, mapped to ours (the message
// decides within a code: OutOfRange is compaction or a future revision).
KvErrc errcFromGrpc(int code, std::string_view message);
// An error answer: {"error": "...", "code": N, "message": "..."} (unary) or
// {"error": {"grpc_code": N, "message": "..."}} (inside a stream). Bodies
// that are not JSON become Protocol (or Unavailable for 5xx statuses).
KvError decodeError(long httpStatus, std::string_view body);

// ---- watch stream ----
struct WatchMessage {
  std::int64_t headerRevision = 0;
  bool created = false;
  bool canceled = false;
  std::int64_t compactRevision = 0;  // with canceled: the start was compacted
  std::string cancelReason;
  std::vector<WatchEvent> events;
  std::optional<KvError> streamError;  // the gateway ended the stream with an error
};
KvResult<WatchMessage> decodeWatchMessage(std::string_view object);

// Cuts the gateway's streaming body (JSON objects one after another,
// whitespace between) into whole objects, whatever the chunk boundaries:
// braces are counted outside strings, escapes are honoured.
class JsonObjectSplitter {
 public:
  explicit JsonObjectSplitter(std::size_t maxObjectBytes) : max_(maxObjectBytes) {}
  // Appends a chunk and moves every completed object into `out`. False when
  // the bytes are not a sequence of objects or one object exceeds the
  // limit; the stream must then be dropped (the splitter stays failed).
  bool feed(std::string_view chunk, std::vector<std::string>& out);
  // Bytes of an incomplete object held back.
  std::size_t pending() const noexcept { return buf_.size(); }

 private:
  std::size_t max_;
  std::string buf_;
  int depth_ = 0;
  bool inString_ = false;
  bool escape_ = false;
  bool failed_ = false;
};

}  // namespace geodns::health::cluster::etcdjson
