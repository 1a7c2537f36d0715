#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "health/cluster/etcd_json.h"

using namespace geodns::health::cluster;
using namespace geodns::health::cluster::etcdjson;
using nlohmann::json;

// Bodies below were captured from etcd 3.4.23 (Debian 12) with curl, so the
// decoder is tested against what the gateway really sends (strings for
// 64-bit integers, omitted zero fields, enum names).

TEST_CASE("etcd json: request encoding") {
  SUBCASE("range over a prefix at a revision") {
    RangeRequest r = RangeRequest::prefix("/geodns/");
    r.revision = 42;
    r.limit = 7;
    const json j = json::parse(encodeRange(r));
    CHECK(j == json{{"key", "L2dlb2Rucy8="},
                    {"range_end", "L2dlb2RuczA="},  // "/geodns0"
                    {"revision", "42"},
                    {"limit", "7"}});
  }
  SUBCASE("range of one key omits what is zero") {
    const json j = json::parse(encodeRange(RangeRequest::single("foo")));
    CHECK(j == json{{"key", "Zm9v"}});
  }
  SUBCASE("put with a lease beyond 2^53 keeps every digit") {
    const json j = json::parse(encodePut({"foo", "bar", 7587868363573622017, true}));
    CHECK(j == json{{"key", "Zm9v"},
                    {"value", "YmFy"},
                    {"lease", "7587868363573622017"},
                    {"prev_kv", true}});
  }
  SUBCASE("put of an empty value still sends the value") {
    const json j = json::parse(encodePut({"foo", "", 0, false}));
    CHECK(j == json{{"key", "Zm9v"}, {"value", ""}});
  }
  SUBCASE("delete range") {
    const json j = json::parse(encodeDelete(DeleteRequest::prefix("a")));
    CHECK(j == json{{"key", "YQ=="}, {"range_end", "Yg=="}});
  }
  SUBCASE("txn: compares carry their operand even when zero, ops are named") {
    TxnRequest t;
    t.compare = {Compare::absent("k"), Compare::modRevision("k", Compare::Op::NotEqual, 9),
                 Compare::valueIs("k", Compare::Op::Greater, "v"),
                 Compare::version("k", Compare::Op::Less, 3)};
    t.success = {PutRequest{"k", "v", 0, false}, DeleteRequest::single("d")};
    t.failure = {RangeRequest::single("k")};
    const json j = json::parse(encodeTxn(t));
    const json want = {
        {"compare",
         {{{"key", "aw=="}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}},
          {{"key", "aw=="}, {"target", "MOD"}, {"result", "NOT_EQUAL"}, {"mod_revision", "9"}},
          {{"key", "aw=="}, {"target", "VALUE"}, {"result", "GREATER"}, {"value", "dg=="}},
          {{"key", "aw=="}, {"target", "VERSION"}, {"result", "LESS"}, {"version", "3"}}}},
        {"success",
         {{{"request_put", {{"key", "aw=="}, {"value", "dg=="}}}},
          {{"request_delete_range", {{"key", "ZA=="}}}}}},
        {"failure", {{{"request_range", {{"key", "aw=="}}}}}},
    };
    CHECK(j == want);
  }
  SUBCASE("txn without compares or ops still sends the arrays") {
    const json j = json::parse(encodeTxn({}));
    CHECK(j ==
          json{{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}});
  }
  SUBCASE("watch create") {
    WatchRequest w = WatchRequest::prefix("p", 0);
    w.prevKv = true;
    CHECK(json::parse(encodeWatchCreate(w, 17)) == json{{"create_request",
                                                         {{"key", "cA=="},
                                                          {"range_end", "cQ=="},
                                                          {"start_revision", "17"},
                                                          {"progress_notify", true},
                                                          {"prev_kv", true}}}});
    w.progressNotify = false;
    w.prevKv = false;
    CHECK(json::parse(encodeWatchCreate(w, 0)) ==
          json{{"create_request", {{"key", "cA=="}, {"range_end", "cQ=="}}}});
  }
  SUBCASE("leases, compaction, authentication") {
    CHECK(json::parse(encodeLeaseGrant(10)) == json{{"TTL", "10"}, {"ID", "0"}});
    CHECK(json::parse(encodeLeaseId(4111120389058574601)) == json{{"ID", "4111120389058574601"}});
    CHECK(json::parse(encodeCompact(5)) == json{{"revision", "5"}});
    // A password with JSON metacharacters is escaped, not cut.
    CHECK(json::parse(encodeAuthenticate("geo", "p\"w\\")) ==
          json{{"name", "geo"}, {"password", "p\"w\\"}});
  }
}

TEST_CASE("etcd json: answers") {
  SUBCASE("range") {
    auto r = decodeRange(
        R"({"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"})");
    REQUIRE(r.ok());
    CHECK(r->revision == 2);
    CHECK(r->count == 1);
    CHECK_FALSE(r->more);
    REQUIRE(r->kvs.size() == 1);
    CHECK(r->kvs[0] == KeyValue{"foo", "bar", 2, 2, 1, 0});
  }
  SUBCASE("range of nothing: every list and count omitted") {
    auto r = decodeRange(R"({"header":{"cluster_id":"1","revision":"2","raft_term":"2"}})");
    REQUIRE(r.ok());
    CHECK(r->kvs.empty());
    CHECK(r->count == 0);
  }
  SUBCASE("numbers as JSON numbers are accepted too") {
    auto r = decodeRange(
        R"({"header":{"revision":9},"kvs":[{"key":"YQ==","lease":7}],"more":true,"count":3})");
    REQUIRE(r.ok());
    CHECK(r->revision == 9);
    CHECK(r->more);
    CHECK(r->kvs[0].lease == 7);
    CHECK(r->kvs[0].value.empty());
  }
  SUBCASE("put with prev_kv") {
    auto r = decodePut(
        R"({"header":{"revision":"5"},"prev_kv":{"key":"Zm9v","create_revision":"2","mod_revision":"4","version":"3","value":"MQ=="}})");
    REQUIRE(r.ok());
    CHECK(r->revision == 5);
    REQUIRE(r->prevKv);
    CHECK(r->prevKv->value == "1");
    CHECK(r->prevKv->version == 3);
  }
  SUBCASE("deleterange") {
    auto r = decodeDelete(
        R"({"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"5","raft_term":"2"},"deleted":"1"})");
    REQUIRE(r.ok());
    CHECK(r->revision == 5);
    CHECK(r->deleted == 1);
  }
  SUBCASE("txn that succeeded") {
    auto r = decodeTxn(
        R"({"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"3","raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}]})");
    REQUIRE(r.ok());
    CHECK(r->succeeded);
    CHECK(r->revision == 3);
    REQUIRE(r->responses.size() == 1);
    REQUIRE(std::holds_alternative<PutResponse>(r->responses[0]));
    CHECK(std::get<PutResponse>(r->responses[0]).revision == 3);
  }
  SUBCASE("txn that failed: 'succeeded' omitted, the failure branch's range") {
    auto r = decodeTxn(
        R"({"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"3","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"3"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}],"count":"1"}}]})");
    REQUIRE(r.ok());
    CHECK_FALSE(r->succeeded);
    REQUIRE(r->responses.size() == 1);
    REQUIRE(std::holds_alternative<RangeResponse>(r->responses[0]));
    const auto& rr = std::get<RangeResponse>(r->responses[0]);
    REQUIRE(rr.kvs.size() == 1);
    CHECK(rr.kvs[0].value == "baz");
  }
  SUBCASE("txn with a delete response") {
    auto r = decodeTxn(
        R"({"header":{"revision":"8"},"succeeded":true,"responses":[{"response_delete_range":{"header":{"revision":"8"},"deleted":"2"}}]})");
    REQUIRE(r.ok());
    CHECK(std::get<DeleteResponse>(r->responses[0]).deleted == 2);
  }
  SUBCASE("lease grant, keepalive, status, token") {
    auto g =
        decodeLeaseGrant(R"({"header":{"revision":"2"},"ID":"4111120389058574601","TTL":"2"})");
    REQUIRE(g.ok());
    CHECK(g->id == 4111120389058574601);
    CHECK(g->ttlSeconds == 2);
    auto k = decodeKeepAlive(
        R"({"result":{"header":{"revision":"5","raft_term":"2"},"ID":"4111120389058574608","TTL":"5"}})");
    REQUIRE(k.ok());
    CHECK(k->ttlSeconds == 5);
    // A revoked or expired lease: the same answer without TTL.
    auto gone = decodeKeepAlive(
        R"({"result":{"header":{"revision":"5","raft_term":"2"},"ID":"4111120389058574608"}})");
    REQUIRE_FALSE(gone.ok());
    CHECK(gone.error().code == KvErrc::NotFound);
    auto s = decodeStatus(
        R"({"header":{"cluster_id":"1","member_id":"13668033151171901709","revision":"9","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"13668033151171901709","raftIndex":"12","raftTerm":"2"})");
    REQUIRE(s.ok());
    CHECK(s->memberId == 13668033151171901709ULL);
    CHECK(s->leader == s->memberId);
    CHECK(s->version == "3.4.23");
    auto t = decodeAuthToken(R"({"header":{"revision":"9"},"token":"bKjilZQjUCILNljQ.30"})");
    REQUIRE(t.ok());
    CHECK(t.value() == "bKjilZQjUCILNljQ.30");
  }
}

TEST_CASE("etcd json: malformed answers are Protocol errors, not crashes") {
  struct Case {
    const char* name;
    const char* body;
  };
  const Case cases[] = {
      {"not JSON", "<html>"},
      {"a JSON array", "[]"},
      {"truncated", R"({"header":{"revision":"2")"},
      {"revision not a number", R"({"header":{"revision":"2x"}})"},
      {"revision a float", R"({"header":{"revision":2.5}})"},
      {"kvs not an array", R"({"header":{},"kvs":{}})"},
      {"a kv not an object", R"({"kvs":[1]})"},
      {"key not base64", R"({"kvs":[{"key":"Zm9v!"}]})"},
      {"value not a string", R"({"kvs":[{"key":"Zm9v","value":3}]})"},
      {"more not a boolean", R"({"more":"yes"})"},
      {"empty", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = decodeRange(c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == KvErrc::Protocol);
  }
  auto t = decodeTxn(R"({"responses":[{"response_unknown":{}}]})");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().code == KvErrc::Protocol);
  auto g = decodeLeaseGrant(R"({"TTL":"5"})");
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().code == KvErrc::Protocol);
  auto e = decodeWatchMessage(R"({"result":{"events":[{"type":"EXPLODE","kv":{}}]}})");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == KvErrc::Protocol);
}

TEST_CASE("etcd json: errors map to codes") {
  struct Case {
    const char* name;
    long status;
    const char* body;
    KvErrc code;
  };
  const Case cases[] = {
      {"compacted", 400,
       R"({"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11})",
       KvErrc::Compacted},
      {"future revision", 400,
       R"({"error":"etcdserver: mvcc: required revision is a future revision","message":"etcdserver: mvcc: required revision is a future revision","code":11})",
       KvErrc::FutureRevision},
      {"empty key", 400,
       R"({"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3})",
       KvErrc::InvalidArgument},
      {"lease not found", 404,
       R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})",
       KvErrc::NotFound},
      {"permission denied", 403,
       R"({"error":"etcdserver: permission denied","message":"etcdserver: permission denied","code":7})",
       KvErrc::PermissionDenied},
      {"expired token", 401,
       R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16})",
       KvErrc::Unauthenticated},
      {"auth on but no token", 400,
       R"({"error":"etcdserver: user name is empty","message":"etcdserver: user name is empty","code":3})",
       KvErrc::Unauthenticated},
      {"bad password", 400,
       R"({"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3})",
       KvErrc::Unauthenticated},
      {"no leader", 503,
       R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})",
       KvErrc::Unavailable},
      {"request timed out", 504,
       R"({"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":4})",
       KvErrc::Unavailable},
      {"stream error form", 200,
       R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})",
       KvErrc::Unavailable},
      {"a proxy's 502 page", 502, "<html>bad gateway</html>", KvErrc::Unavailable},
      {"a 404 page", 404, "404 page not found\n", KvErrc::Protocol},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const KvError e = decodeError(c.status, c.body);
    CHECK(e.code == c.code);
    CHECK_FALSE(e.message.empty());
  }
}

namespace {

// A watch stream as etcd 3.4.23 sent it for `curl /v3/watch` with
// start_revision 2 and progress_notify, then a put and a delete: created,
// two historical events in one message, a put, a delete, a progress
// notification.
const std::string kStream =
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"3","raft_term":"2"},"created":true}})"
    "\n"
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"3","raft_term":"2"},"events":[{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}},{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}}]}})"
    "\n"
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"4","raft_term":"2"},"events":[{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"4","version":"3","value":"MQ=="}}]}})"
    "\n"
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"5","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"5"}}]}})"
    "\n"
    R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"5","raft_term":"2"}}})"
    "\n";

void checkStream(const std::vector<std::string>& objects) {
  REQUIRE(objects.size() == 5);
  auto m0 = decodeWatchMessage(objects[0]);
  REQUIRE(m0.ok());
  CHECK(m0->created);
  CHECK(m0->headerRevision == 3);
  auto m1 = decodeWatchMessage(objects[1]);
  REQUIRE(m1.ok());
  REQUIRE(m1->events.size() == 2);
  CHECK(m1->events[0].type == WatchEvent::Type::Put);
  CHECK(m1->events[0].kv == KeyValue{"foo", "bar", 2, 2, 1, 0});
  CHECK(m1->events[1].kv.value == "baz");
  auto m3 = decodeWatchMessage(objects[3]);
  REQUIRE(m3.ok());
  REQUIRE(m3->events.size() == 1);
  CHECK(m3->events[0].type == WatchEvent::Type::Delete);
  CHECK(m3->events[0].kv == KeyValue{"foo", "", 0, 5, 0, 0});
  auto m4 = decodeWatchMessage(objects[4]);
  REQUIRE(m4.ok());
  CHECK_FALSE(m4->created);
  CHECK(m4->events.empty());
  CHECK(m4->headerRevision == 5);
}

}  // namespace

TEST_CASE("etcd json: watch stream split at every byte boundary") {
  for (std::size_t cut = 0; cut <= kStream.size(); ++cut) {
    CAPTURE(cut);
    JsonObjectSplitter sp(1 << 20);
    std::vector<std::string> out;
    REQUIRE(sp.feed(std::string_view(kStream).substr(0, cut), out));
    REQUIRE(sp.feed(std::string_view(kStream).substr(cut), out));
    CHECK(sp.pending() == 0);
    checkStream(out);
  }
}

TEST_CASE("etcd json: watch stream one byte at a time, and in uneven chunks") {
  {
    JsonObjectSplitter sp(1 << 20);
    std::vector<std::string> out;
    for (char c : kStream) REQUIRE(sp.feed(std::string_view(&c, 1), out));
    checkStream(out);
  }
  for (std::size_t step : {2u, 3u, 7u, 64u, 1000u}) {
    CAPTURE(step);
    JsonObjectSplitter sp(1 << 20);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < kStream.size(); i += step)
      REQUIRE(sp.feed(std::string_view(kStream).substr(i, step), out));
    checkStream(out);
  }
}

TEST_CASE("etcd json: splitter edge cases") {
  SUBCASE("braces and escaped quotes inside strings do not count") {
    JsonObjectSplitter sp(1024);
    std::vector<std::string> out;
    const std::string a = R"({"s":"}{\"}\\"})";
    const std::string b = R"({"t":["{",{"u":"\\\""}]})";
    const std::string both = a + "  \r\n\t" + b;
    for (std::size_t cut = 0; cut <= both.size(); ++cut) {
      CAPTURE(cut);
      out.clear();
      JsonObjectSplitter s2(1024);
      REQUIRE(s2.feed(std::string_view(both).substr(0, cut), out));
      REQUIRE(s2.feed(std::string_view(both).substr(cut), out));
      REQUIRE(out.size() == 2);
      CHECK(out[0] == a);
      CHECK(out[1] == b);
      CHECK(json::parse(out[0])["s"] == "}{\"}\\");
    }
  }
  SUBCASE("an incomplete object is held back") {
    JsonObjectSplitter sp(1024);
    std::vector<std::string> out;
    REQUIRE(sp.feed(R"({"a":{"b":1})", out));
    CHECK(out.empty());
    CHECK(sp.pending() == 12);
    REQUIRE(sp.feed("}", out));
    CHECK(out.size() == 1);
  }
  SUBCASE("garbage between objects fails the stream for good") {
    JsonObjectSplitter sp(1024);
    std::vector<std::string> out;
    CHECK_FALSE(sp.feed(R"({"a":1} x {"b":2})", out));
    CHECK(out.size() == 1);
    CHECK_FALSE(sp.feed(R"({"c":3})", out));
    CHECK(out.size() == 1);
  }
  SUBCASE("an object over the limit fails instead of growing") {
    JsonObjectSplitter sp(16);
    std::vector<std::string> out;
    CHECK(sp.feed(R"({"a":"0123"})", out));
    CHECK(out.size() == 1);
    CHECK_FALSE(sp.feed(R"({"a":"0123456789abcdef"})", out));
    CHECK(out.size() == 1);
  }
}

TEST_CASE("etcd json: watch messages") {
  SUBCASE("start revision compacted: canceled with the compaction point") {
    auto m = decodeWatchMessage(
        R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","raft_term":"2"},"canceled":true,"compact_revision":"7"}})");
    REQUIRE(m.ok());
    CHECK(m->canceled);
    CHECK(m->compactRevision == 7);
    CHECK(m->headerRevision == 0);
  }
  SUBCASE("canceled for permission") {
    auto m = decodeWatchMessage(
        R"({"result":{"header":{"revision":"9"},"canceled":true,"cancel_reason":"etcdserver: permission denied"}})");
    REQUIRE(m.ok());
    CHECK(m->canceled);
    CHECK(m->cancelReason == "etcdserver: permission denied");
  }
  SUBCASE("the gateway ends the stream with an error") {
    auto m = decodeWatchMessage(
        R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})");
    REQUIRE(m.ok());
    REQUIRE(m->streamError);
    CHECK(m->streamError->code == KvErrc::Unavailable);
    CHECK(m->streamError->message == "etcdserver: no leader");
  }
  SUBCASE("numeric event types and prev_kv") {
    auto m = decodeWatchMessage(
        R"({"result":{"header":{"revision":"9"},"events":[{"type":1,"kv":{"key":"YQ==","mod_revision":"9"},"prev_kv":{"key":"YQ==","value":"MQ==","mod_revision":"8"}}]}})");
    REQUIRE(m.ok());
    REQUIRE(m->events.size() == 1);
    CHECK(m->events[0].type == WatchEvent::Type::Delete);
    REQUIRE(m->events[0].prevKv);
    CHECK(m->events[0].prevKv->value == "1");
  }
  SUBCASE("neither result nor error") {
    auto m = decodeWatchMessage(R"({"hello":1})");
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == KvErrc::Protocol);
  }
}

TEST_CASE("prefixEnd") {
  CHECK(prefixEnd("/geodns/") == "/geodns0");
  CHECK(prefixEnd("a") == "b");
  CHECK(prefixEnd(std::string("a\xff", 2)) == "b");
  CHECK(prefixEnd(std::string("\xff\xff", 2)) == std::string(1, '\0'));
  CHECK(prefixEnd("") == std::string(1, '\0'));
}
