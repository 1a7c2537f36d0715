#include "health/cluster/etcd_json.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "health/cluster/base64.h"

namespace geodns::health::cluster::etcdjson {

using nlohmann::json;

namespace {

// ---- encoding helpers ----

// 64-bit integers go out as strings: proto3 JSON allows both, and lease IDs
// do not fit a double.
std::string num(std::int64_t v) {
  return std::to_string(v);
}

void putBytes(json& j, const char* field, const std::string& bytes) {
  if (!bytes.empty()) j[field] = base64Encode(bytes);
}

json rangeJson(const RangeRequest& r) {
  json j = json::object();
  j["key"] = base64Encode(r.key);
  putBytes(j, "range_end", r.rangeEnd);
  if (r.revision != 0) j["revision"] = num(r.revision);
  if (r.limit != 0) j["limit"] = num(r.limit);
  if (r.keysOnly) j["keys_only"] = true;
  if (r.countOnly) j["count_only"] = true;
  return j;
}

json putJson(const PutRequest& r) {
  json j = json::object();
  j["key"] = base64Encode(r.key);
  j["value"] = base64Encode(r.value);
  if (r.lease != 0) j["lease"] = num(r.lease);
  if (r.prevKv) j["prev_kv"] = true;
  return j;
}

json deleteJson(const DeleteRequest& r) {
  json j = json::object();
  j["key"] = base64Encode(r.key);
  putBytes(j, "range_end", r.rangeEnd);
  if (r.prevKv) j["prev_kv"] = true;
  return j;
}

const char* targetName(Compare::Target t) {
  switch (t) {
    case Compare::Target::Version:
      return "VERSION";
    case Compare::Target::CreateRevision:
      return "CREATE";
    case Compare::Target::ModRevision:
      return "MOD";
    case Compare::Target::Value:
      return "VALUE";
    case Compare::Target::Lease:
      return "LEASE";
  }
  return "MOD";
}

const char* opName(Compare::Op o) {
  switch (o) {
    case Compare::Op::Equal:
      return "EQUAL";
    case Compare::Op::Greater:
      return "GREATER";
    case Compare::Op::Less:
      return "LESS";
    case Compare::Op::NotEqual:
      return "NOT_EQUAL";
  }
  return "EQUAL";
}

json compareJson(const Compare& c) {
  json j = json::object();
  j["key"] = base64Encode(c.key);
  putBytes(j, "range_end", c.rangeEnd);
  j["target"] = targetName(c.target);
  j["result"] = opName(c.op);
  // The operand is a oneof: always sent, even when zero, so etcd knows
  // which member is meant.
  switch (c.target) {
    case Compare::Target::Version:
      j["version"] = num(c.number);
      break;
    case Compare::Target::CreateRevision:
      j["create_revision"] = num(c.number);
      break;
    case Compare::Target::ModRevision:
      j["mod_revision"] = num(c.number);
      break;
    case Compare::Target::Value:
      j["value"] = base64Encode(c.value);
      break;
    case Compare::Target::Lease:
      j["lease"] = num(c.number);
      break;
  }
  return j;
}

json opsJson(const std::vector<TxnOp>& ops) {
  json a = json::array();
  for (const auto& op : ops) {
    json o = json::object();
    if (const auto* r = std::get_if<RangeRequest>(&op)) o["request_range"] = rangeJson(*r);
    if (const auto* p = std::get_if<PutRequest>(&op)) o["request_put"] = putJson(*p);
    if (const auto* d = std::get_if<DeleteRequest>(&op)) o["request_delete_range"] = deleteJson(*d);
    a.push_back(std::move(o));
  }
  return a;
}

// ---- decoding helpers ----

// A decoding failure: the first one found, reported as a Protocol error.
struct Bad {
  std::string what;
};

KvError protocol(std::string what) {
  return {KvErrc::Protocol, std::move(what), 0, false};
}

std::int64_t getInt(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  throw Bad{std::string("field '") + field + "' is not an integer"};
}

std::uint64_t getUint(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  throw Bad{std::string("field '") + field + "' is not an unsigned integer"};
}

bool getBool(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw Bad{std::string("field '") + field + "' is not a boolean"};
  return it->get<bool>();
}

std::string getString(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) throw Bad{std::string("field '") + field + "' is not a string"};
  return it->get<std::string>();
}

std::string getBytes(const json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return {};
  if (!it->is_string()) throw Bad{std::string("field '") + field + "' is not a string"};
  auto bytes = base64Decode(it->get_ref<const std::string&>());
  if (!bytes) throw Bad{std::string("field '") + field + "' is not base64"};
  return std::move(*bytes);
}

const json& getObject(const json& obj, const char* field) {
  static const json kEmpty = json::object();
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return kEmpty;
  if (!it->is_object()) throw Bad{std::string("field '") + field + "' is not an object"};
  return *it;
}

const json& getArray(const json& obj, const char* field) {
  static const json kEmpty = json::array();
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return kEmpty;
  if (!it->is_array()) throw Bad{std::string("field '") + field + "' is not an array"};
  return *it;
}

std::int64_t headerRevision(const json& obj) {
  return getInt(getObject(obj, "header"), "revision");
}

KeyValue keyValue(const json& j) {
  if (!j.is_object()) throw Bad{"a key-value is not an object"};
  KeyValue kv;
  kv.key = getBytes(j, "key");
  kv.value = getBytes(j, "value");
  kv.createRevision = getInt(j, "create_revision");
  kv.modRevision = getInt(j, "mod_revision");
  kv.version = getInt(j, "version");
  kv.lease = getInt(j, "lease");
  return kv;
}

RangeResponse range(const json& j) {
  RangeResponse r;
  r.revision = headerRevision(j);
  for (const auto& kv : getArray(j, "kvs")) r.kvs.push_back(keyValue(kv));
  r.more = getBool(j, "more");
  r.count = getInt(j, "count");
  return r;
}

PutResponse put(const json& j) {
  PutResponse r;
  r.revision = headerRevision(j);
  if (j.contains("prev_kv") && !j["prev_kv"].is_null()) r.prevKv = keyValue(j["prev_kv"]);
  return r;
}

DeleteResponse del(const json& j) {
  DeleteResponse r;
  r.revision = headerRevision(j);
  r.deleted = getInt(j, "deleted");
  for (const auto& kv : getArray(j, "prev_kvs")) r.prevKvs.push_back(keyValue(kv));
  return r;
}

TxnResponse txn(const json& j) {
  TxnResponse r;
  r.revision = headerRevision(j);
  r.succeeded = getBool(j, "succeeded");
  for (const auto& op : getArray(j, "responses")) {
    if (!op.is_object()) throw Bad{"a txn response is not an object"};
    if (op.contains("response_range")) {
      r.responses.emplace_back(range(getObject(op, "response_range")));
    } else if (op.contains("response_put")) {
      r.responses.emplace_back(put(getObject(op, "response_put")));
    } else if (op.contains("response_delete_range")) {
      r.responses.emplace_back(del(getObject(op, "response_delete_range")));
    } else {
      // An empty object: proto3 JSON drops a response whose fields are all
      // zero, which cannot happen for these (they carry a header), so it is
      // something we do not know.
      throw Bad{"unknown txn response kind"};
    }
  }
  return r;
}

WatchEvent event(const json& j) {
  if (!j.is_object()) throw Bad{"a watch event is not an object"};
  WatchEvent e;
  auto it = j.find("type");
  if (it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      const auto& t = it->get_ref<const std::string&>();
      if (t == "PUT")
        e.type = WatchEvent::Type::Put;
      else if (t == "DELETE")
        e.type = WatchEvent::Type::Delete;
      else
        throw Bad{"unknown watch event type '" + t + "'"};
    } else if (it->is_number_integer()) {
      const auto t = it->get<std::int64_t>();
      if (t != 0 && t != 1) throw Bad{"unknown watch event type"};
      e.type = t == 1 ? WatchEvent::Type::Delete : WatchEvent::Type::Put;
    } else {
      throw Bad{"watch event type is not a string"};
    }
  }
  e.kv = keyValue(getObject(j, "kv"));
  if (j.contains("prev_kv") && !j["prev_kv"].is_null()) e.prevKv = keyValue(j["prev_kv"]);
  return e;
}

// Parses `body` as an object and runs `fn` on it; every failure becomes a
// Protocol error naming what was wrong.
template <class T, class Fn>
KvResult<T> decodeWith(std::string_view body, const char* what, Fn fn) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return protocol(std::string(what) + ": answer is not a JSON object");
  try {
    return fn(j);
  } catch (const Bad& b) {
    return protocol(std::string(what) + ": " + b.what);
  } catch (const json::exception& e) {
    return protocol(std::string(what) + ": " + e.what());
  }
}

}  // namespace

// ---- requests ----

std::string encodeRange(const RangeRequest& r) {
  return rangeJson(r).dump();
}
std::string encodePut(const PutRequest& r) {
  return putJson(r).dump();
}
std::string encodeDelete(const DeleteRequest& r) {
  return deleteJson(r).dump();
}

std::string encodeTxn(const TxnRequest& r) {
  json j = json::object();
  json cmp = json::array();
  for (const auto& c : r.compare) cmp.push_back(compareJson(c));
  j["compare"] = std::move(cmp);
  j["success"] = opsJson(r.success);
  j["failure"] = opsJson(r.failure);
  return j.dump();
}

std::string encodeLeaseGrant(std::int64_t ttlSeconds) {
  return json{{"TTL", num(ttlSeconds)}, {"ID", "0"}}.dump();
}
std::string encodeLeaseId(std::int64_t id) {
  return json{{"ID", num(id)}}.dump();
}
std::string encodeCompact(std::int64_t revision) {
  return json{{"revision", num(revision)}}.dump();
}

std::string encodeWatchCreate(const WatchRequest& r, std::int64_t startRevision) {
  json c = json::object();
  c["key"] = base64Encode(r.key);
  putBytes(c, "range_end", r.rangeEnd);
  if (startRevision != 0) c["start_revision"] = num(startRevision);
  if (r.progressNotify) c["progress_notify"] = true;
  if (r.prevKv) c["prev_kv"] = true;
  return json{{"create_request", std::move(c)}}.dump();
}

std::string encodeAuthenticate(std::string_view user, std::string_view password) {
  // The only strings that are not base64: bytes that are not UTF-8 would
  // make dump() throw; replaced, they just fail to authenticate.
  return json{{"name", std::string(user)}, {"password", std::string(password)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

// ---- answers ----

KvResult<RangeResponse> decodeRange(std::string_view body) {
  return decodeWith<RangeResponse>(body, "range", [](const json& j) { return range(j); });
}
KvResult<PutResponse> decodePut(std::string_view body) {
  return decodeWith<PutResponse>(body, "put", [](const json& j) { return put(j); });
}
KvResult<DeleteResponse> decodeDelete(std::string_view body) {
  return decodeWith<DeleteResponse>(body, "deleterange", [](const json& j) { return del(j); });
}
KvResult<TxnResponse> decodeTxn(std::string_view body) {
  return decodeWith<TxnResponse>(body, "txn", [](const json& j) { return txn(j); });
}

KvResult<LeaseGrant> decodeLeaseGrant(std::string_view body) {
  return decodeWith<LeaseGrant>(body, "lease grant", [](const json& j) -> KvResult<LeaseGrant> {
    const std::string err = getString(j, "error");
    if (!err.empty()) return KvError{KvErrc::InvalidArgument, "lease grant: " + err, 0, false};
    LeaseGrant g{getInt(j, "ID"), getInt(j, "TTL")};
    if (g.id == 0) throw Bad{"no lease ID"};
    return g;
  });
}

KvResult<LeaseGrant> decodeKeepAlive(std::string_view body) {
  return decodeWith<LeaseGrant>(body, "lease keepalive", [](const json& j) -> KvResult<LeaseGrant> {
    if (j.contains("error")) {
      const auto& e = j["error"];
      if (!e.is_object()) throw Bad{"'error' is not an object"};
      return KvError{
          errcFromGrpc(static_cast<int>(getInt(e, "grpc_code")), getString(e, "message")),
          "lease keepalive: " + getString(e, "message"), 0, false};
    }
    const json& r = getObject(j, "result");
    LeaseGrant g{getInt(r, "ID"), getInt(r, "TTL")};
    // etcd answers a keepalive of an unknown lease with TTL 0 (omitted).
    if (g.ttlSeconds <= 0) return KvError{KvErrc::NotFound, "lease not found or expired", 0, false};
    return g;
  });
}

KvResult<std::int64_t> decodeHeaderRevision(std::string_view body) {
  return decodeWith<std::int64_t>(body, "answer", [](const json& j) { return headerRevision(j); });
}

KvResult<std::string> decodeAuthToken(std::string_view body) {
  return decodeWith<std::string>(body, "authenticate", [](const json& j) {
    std::string t = getString(j, "token");
    if (t.empty()) throw Bad{"no token"};
    return t;
  });
}

KvResult<MemberStatus> decodeStatus(std::string_view body) {
  return decodeWith<MemberStatus>(body, "status", [](const json& j) {
    MemberStatus s;
    const json& h = getObject(j, "header");
    s.memberId = getUint(h, "member_id");
    s.revision = getInt(h, "revision");
    s.raftTerm = getUint(j, "raftTerm");
    s.leader = getUint(j, "leader");
    s.version = getString(j, "version");
    return s;
  });
}

// ---- errors ----

KvErrc errcFromGrpc(int code, std::string_view message) {
  switch (code) {
    case 3:  // InvalidArgument
      // Auth enabled on the server but no token sent.
      if (message.find("user name is empty") != std::string_view::npos)
        return KvErrc::Unauthenticated;
      if (message.find("authentication failed") != std::string_view::npos)
        return KvErrc::Unauthenticated;
      return KvErrc::InvalidArgument;
    case 5:
      return KvErrc::NotFound;
    case 7:
      return KvErrc::PermissionDenied;
    case 11:  // OutOfRange
      if (message.find("compacted") != std::string_view::npos) return KvErrc::Compacted;
      if (message.find("future revision") != std::string_view::npos) return KvErrc::FutureRevision;
      return KvErrc::InvalidArgument;
    case 16:
      return KvErrc::Unauthenticated;
    case 1:   // Canceled (the server's context)
    case 4:   // DeadlineExceeded ("request timed out")
    case 10:  // Aborted
    case 14:  // Unavailable ("no leader", "leader changed")
      return KvErrc::Unavailable;
    case 9:  // FailedPrecondition
    case 6:  // AlreadyExists
    case 8:  // ResourceExhausted (too many requests, no space)
      return KvErrc::InvalidArgument;
    default:
      return KvErrc::Protocol;
  }
}

KvError decodeError(long httpStatus, std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    try {
      auto it = j.find("error");
      if (it != j.end() && it->is_object()) {  // inside a stream
        const std::string msg = getString(*it, "message");
        return {errcFromGrpc(static_cast<int>(getInt(*it, "grpc_code")), msg), msg, 0, false};
      }
      if (j.contains("code")) {
        std::string msg = getString(j, "message");
        if (msg.empty()) msg = getString(j, "error");
        KvError e{errcFromGrpc(static_cast<int>(getInt(j, "code")), msg), msg, 0, false};
        return e;
      }
    } catch (const Bad&) {
    } catch (const json::exception&) {
    }
  }
  const std::string status = "HTTP " + std::to_string(httpStatus);
  if (httpStatus >= 500) return {KvErrc::Unavailable, status, 0, false};
  return {KvErrc::Protocol, status + " with an answer that is not an etcd error", 0, false};
}

// ---- watch stream ----

KvResult<WatchMessage> decodeWatchMessage(std::string_view object) {
  return decodeWith<WatchMessage>(object, "watch", [](const json& j) {
    WatchMessage m;
    if (j.contains("error")) {
      m.streamError = decodeError(200, j.dump());
      return m;
    }
    if (!j.contains("result")) throw Bad{"neither 'result' nor 'error'"};
    const json& r = getObject(j, "result");
    m.headerRevision = headerRevision(r);
    m.created = getBool(r, "created");
    m.canceled = getBool(r, "canceled");
    m.compactRevision = getInt(r, "compact_revision");
    m.cancelReason = getString(r, "cancel_reason");
    for (const auto& e : getArray(r, "events")) m.events.push_back(event(e));
    return m;
  });
}

bool JsonObjectSplitter::feed(std::string_view chunk, std::vector<std::string>& out) {
  if (failed_) return false;
  for (const char c : chunk) {
    if (depth_ == 0) {
      // Between objects only whitespace is allowed.
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{') {
        failed_ = true;
        return false;
      }
    }
    if (buf_.size() >= max_) {
      failed_ = true;
      return false;
    }
    buf_ += c;
    if (inString_) {
      if (escape_)
        escape_ = false;
      else if (c == '\\')
        escape_ = true;
      else if (c == '"')
        inString_ = false;
      continue;
    }
    if (c == '"') {
      inString_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        out.push_back(std::move(buf_));
        buf_.clear();
      }
    }
  }
  return true;
}

}  // namespace geodns::health::cluster::etcdjson
