// Proves the UDP query path allocates nothing: counts every operator new
// while answering a batch of varied queries (answers, NXDOMAIN, referrals,
// CNAME chains, wildcards, truncation, EDNS, errors).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "server/engine.h"
#include "support/dns_test_util.h"
#include "support/engine_fixture.h"

namespace {
std::atomic<long> gAllocations{0};
}

// These replacements pair malloc with free on purpose; GCC's optimizer flags
// the inlined pairing of new/free as a mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

using namespace geodns;

TEST_CASE("answering a batch of queries performs zero heap allocations") {
  auto snap = test::exampleSnapshot();
  std::vector<std::vector<std::uint8_t>> batch;
  const test::QuerySpec specs[] = {
      {.name = "www.example.test"},
      {.name = "WWW.EXAMPLE.TEST", .qtype = 28, .edns = true, .dnssecOk = true},
      {.name = "nope.example.test"},
      {.name = "chain.example.test"},
      {.name = "x.wild.example.test", .qtype = 16},
      {.name = "q.cwild.example.test"},
      {.name = "a.sub.example.test"},
      {.name = "sub.example.test", .qtype = 43},
      {.name = "example.test", .qtype = 15},
      {.name = "big.example.test", .qtype = 16},
      {.name = "big.example.test", .qtype = 16, .edns = true, .udpSize = 4096},
      {.name = "www.example.org"},
      {.name = "version.bind", .qtype = 16, .qclass = 3},
      {.name = "www.example.test", .edns = true, .version = 1},
      {.name = "www.example.test", .qtype = 255},
      {.name = "www.example.test", .flags = 4 << 11},
  };
  for (const auto& s : specs) batch.push_back(test::makeQuery(s));
  std::vector<std::uint8_t> out(65535);
  server::SnapshotHolder holder;
  holder.publish(snap);
  server::SnapshotHolder::Reader reader(holder);
  reader
      .refresh();  // the first refresh copies a shared_ptr: no allocation either, but do it outside

  const long before = gAllocations.load();
  std::size_t bytes = 0;
  for (int round = 0; round < 100; ++round) {
    const server::ServingSnapshot* s = reader.refresh();
    for (const auto& q : batch) bytes += server::answer(*s, q, out, server::Transport::Udp);
  }
  const long after = gAllocations.load();
  CHECK(bytes > 0);
  CHECK(after - before == 0);
  // The counter itself works: an allocation outside the query path is seen.
  auto* probe = new std::vector<int>(10);
  delete probe;
  CHECK(gAllocations.load() > after);
}

TEST_CASE("GSLB answers (mmdb lookups, CIDR maps, pipelines, ECS) allocate nothing") {
  auto snap = test::gslbSnapshot();
  std::vector<std::vector<std::uint8_t>> batch;
  const char* names[] = {"www.gslb.test",   "near.gslb.test", "noecs.gslb.test",
                         "plain.gslb.test", "two.gslb.test",  "a.cdn.gslb.test"};
  const char* nets[] = {"198.51.100.0", "203.0.113.0", "10.1.0.0",
                        "172.16.0.0",   "8.8.8.0",     "100.64.0.0"};
  for (const char* n : names)
    for (const char* e : nets) {
      batch.push_back(test::makeQuery({.name = n, .options = test::ecsOption(e, 24)}));
      batch.push_back(test::makeQuery(
          {.name = n, .qtype = 28, .options = test::ecsOption("2001:db8:1::", 48)}));
    }
  batch.push_back(test::makeQuery({.name = "www.gslb.test"}));
  std::vector<std::uint8_t> out(65535);
  const IpAddress source = *IpAddress::parse("192.0.2.77");
  server::answer(*snap, batch[0], out, server::Transport::Udp, source);  // warm up
  const long before = gAllocations.load();
  std::size_t bytes = 0;
  for (int round = 0; round < 50; ++round)
    for (const auto& q : batch)
      bytes += server::answer(*snap, q, out, server::Transport::Udp, source);
  CHECK(bytes > 0);
  CHECK(gAllocations.load() - before == 0);
}
