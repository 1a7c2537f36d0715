#include "server/metrics.h"

#include <cinttypes>
#include <cstdio>
#include <thread>

#include "core/wire/dns.h"
#include "core/wire/types.h"
#include "zones/zone_file.h"

namespace geodns::server {
namespace {

// Single-writer counters: a plain load and store is enough (no locked RMW).
inline void bump(std::atomic<std::uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::size_t qtypeSlot(std::uint16_t t) noexcept {
  for (std::size_t i = 0; i < std::size(kCountedQtypes); ++i)
    if (kCountedQtypes[i] == t) return i;
  return kQtypeSlots - 1;
}

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

struct Out {
  std::string text;
  void help(const char* name, const char* type, const char* help) {
    text += "# HELP ";
    text += name;
    text += ' ';
    text += help;
    text += "\n# TYPE ";
    text += name;
    text += ' ';
    text += type;
    text += '\n';
  }
  void line(const char* name, const std::string& labels, double v) {
    char num[64];
    std::snprintf(num, sizeof num, "%.17g", v);
    text += name;
    if (!labels.empty()) text += "{" + labels + "}";
    text += ' ';
    text += num;
    text += '\n';
  }
  void line(const char* name, const std::string& labels, std::uint64_t v) {
    text += name;
    if (!labels.empty()) text += "{" + labels + "}";
    text += ' ' + std::to_string(v) + '\n';
  }
};

std::string label(const char* k, const std::string& v) {
  return std::string(k) + "=\"" + escape(v) + "\"";
}

void renderResilience(Out& o, const ResilienceExtras& r) {
  if (r.hasStore) {
    o.help("geodns_state_store_writable", "gauge",
           "1 while the state database takes writes (0: admin writes get 503).");
    o.line("geodns_state_store_writable", "", std::uint64_t{r.storeWritable ? 1u : 0u});
    o.help("geodns_state_store_errors_total", "counter",
           "State database reads and writes that failed (full disk, corruption, I/O errors).");
    o.line("geodns_state_store_errors_total", "", r.storeErrors);
    o.help("geodns_state_store_recoveries_total", "counter",
           "Times the state database became writable again.");
    o.line("geodns_state_store_recoveries_total", "", r.storeRecoveries);
  }
  o.help("geodns_tcp_accept_errors_total", "counter",
         "DNS TCP accepts that failed for lack of descriptors or memory (EMFILE, ENFILE, ...).");
  o.line("geodns_tcp_accept_errors_total", "", r.tcpAcceptErrors);
  o.help("geodns_tcp_connections_refused_total", "counter",
         "DNS TCP connections closed at once because max_tcp_connections were open.");
  o.line("geodns_tcp_connections_refused_total", "", r.tcpRefused);
  o.help("geodns_tcp_connection_limit", "gauge",
         "DNS TCP connections allowed at once (max_tcp_connections, fitted to RLIMIT_NOFILE).");
  o.line("geodns_tcp_connection_limit", "", r.tcpConnectionLimit);
  o.help("geodns_admin_connections_refused_total", "counter",
         "Admin API connections refused: too many from one address, or in total.");
  o.line("geodns_admin_connections_refused_total", label("reason", "per_client"),
         r.adminRefusedPerClient);
  o.line("geodns_admin_connections_refused_total", label("reason", "total"), r.adminRefusedTotal);
  o.help("geodns_admin_request_timeouts_total", "counter",
         "Admin API requests not received in full within the request deadline (408).");
  o.line("geodns_admin_request_timeouts_total", "", r.adminTimeouts);
  o.help("geodns_admin_accept_errors_total", "counter",
         "Admin API accepts that failed for lack of descriptors or memory.");
  o.line("geodns_admin_accept_errors_total", "", r.adminAcceptErrors);
  o.help("geodns_admin_requests_rejected_total", "counter",
         "Admin API requests refused before routing (too large, chunked, bad length).");
  o.line("geodns_admin_requests_rejected_total", "", r.adminRejected);
}

}  // namespace

void QueryCounters::record(const QueryFacts& f) noexcept {
  if (f.outcome == Outcome::Dropped) {
    bump(dropped);
    return;
  }
  bump(rcode[f.rcode < kRcodeSlots - 1 ? f.rcode : kRcodeSlots - 1]);
  bump(qtype[qtypeSlot(f.qtype)]);
  if (f.truncated) bump(truncated);
  if (f.ecsScope) bump(ecs);
  if (f.dnssec) bump(dnssec);
  if (f.signFailed) bump(signFailures);
  if (f.signBudget) bump(signBudgetExhausted);
}

AnswerCounters::AnswerCounters(std::vector<std::string> pools, std::vector<std::string> regions,
                               std::vector<MemberCellName> members)
    : pools_(std::move(pools)),
      regions_(std::move(regions)),
      members_(std::move(members)),
      regionCells_(pools_.size() * (regions_.size() + 1)),
      cells_(regionCells_ + members_.size()),
      rows_(std::make_unique<std::atomic<Cell*>[]>(kMaxRows)),
      shared_(newRow()) {
  for (std::size_t i = 0; i < kMaxRows; ++i) rows_[i].store(nullptr, std::memory_order_relaxed);
}

AnswerCounters::Cell* AnswerCounters::newRow() const {
  Cell* row = new Cell[cells_ ? cells_ : 1];
  for (std::size_t i = 0; i < (cells_ ? cells_ : 1); ++i)
    row[i].store(0, std::memory_order_relaxed);
  return row;
}

void AnswerCounters::addRow(std::size_t slot) {
  if (slot >= kMaxRows) return;  // shares the locked row
  std::lock_guard lock(mu_);
  if (rows_[slot].load(std::memory_order_relaxed)) return;
  owned_.emplace_back(newRow());
  rows_[slot].store(owned_.back().get(), std::memory_order_release);
}

void AnswerCounters::count(std::size_t slot, const QueryFacts& f,
                           std::int32_t bindingPool) noexcept {
  Cell* row = slot < kMaxRows ? rows_[slot].load(std::memory_order_acquire) : nullptr;
  const bool own = row != nullptr;
  if (!own) row = shared_.get();
  auto add = [&](std::size_t i) {
    if (own)
      bump(row[i]);
    else
      row[i].fetch_add(1, std::memory_order_relaxed);
  };
  const std::size_t width = regions_.size() + 1;  // the last column counts unanswered
  if (f.pool >= 0 && static_cast<std::size_t>(f.pool) < pools_.size()) {
    const std::size_t col = f.region >= 0 && static_cast<std::size_t>(f.region) < regions_.size()
                                ? static_cast<std::size_t>(f.region)
                                : regions_.size();
    add(static_cast<std::size_t>(f.pool) * width + col);
  }
  // A fallback answer: the binding's pool had no region either.
  if (f.fellBack && bindingPool >= 0 && static_cast<std::size_t>(bindingPool) < pools_.size())
    add(static_cast<std::size_t>(bindingPool) * width + regions_.size());
  for (std::uint8_t i = 0; i < f.answered; ++i)
    if (f.memberCell[i] < members_.size()) add(regionCells_ + f.memberCell[i]);
}

void AnswerCounters::addTo(AnswerTotals& out) const {
  auto sum = [&](std::size_t i) {
    std::uint64_t n = shared_[i].load(std::memory_order_relaxed);
    for (std::size_t r = 0; r < kMaxRows; ++r)
      if (const Cell* row = rows_[r].load(std::memory_order_acquire))
        n += row[i].load(std::memory_order_relaxed);
    return n;
  };
  const std::size_t width = regions_.size() + 1;
  for (std::size_t p = 0; p < pools_.size(); ++p)
    for (std::size_t r = 0; r < width; ++r) {
      const std::uint64_t n = sum(p * width + r);
      if (r == regions_.size())
        out.unanswered[pools_[p]] += n;
      else if (n)
        out.byRegion[{pools_[p], regions_[r]}] += n;
    }
  for (std::size_t m = 0; m < members_.size(); ++m)
    if (const std::uint64_t n = sum(regionCells_ + m))
      out.byMember[{members_[m].pool, members_[m].region, members_[m].member}] += n;
}

void countQuery(const ServingSnapshot& snap, const QueryFacts& f, QueryCounters& c) noexcept {
  c.record(f);
  if (f.pool < 0 || !snap.answers) return;
  std::int32_t bindingPool = -1;
  if (f.binding >= 0 && static_cast<std::size_t>(f.binding) < snap.gslb->bindings.size())
    bindingPool =
        static_cast<std::int32_t>(snap.gslb->bindings[static_cast<std::size_t>(f.binding)].pool);
  snap.answers->count(c.slot, f, bindingPool);
}

QueryCounters& Metrics::addWorker(Transport t) {
  std::lock_guard lock(mu_);
  workers_.push_back(std::make_unique<QueryCounters>());
  workers_.back()->transport = t;
  workers_.back()->slot = workers_.size() - 1;
  for (const auto& c : live_) c->addRow(workers_.back()->slot);
  return *workers_.back();
}

void Metrics::track(std::shared_ptr<AnswerCounters> counters) {
  std::lock_guard lock(mu_);
  if (counters) {
    for (const auto& w : workers_) counters->addRow(w->slot);
    live_.push_back(std::move(counters));
  }
  foldRetired();
}

// A generation nobody but us holds can no longer be written: fold it into
// the totals by name so counters survive reloads.
void Metrics::foldRetired() {
  for (auto it = live_.begin(); it != live_.end();) {
    if (it->use_count() == 1) {
      (*it)->addTo(retired_);
      it = live_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string Metrics::render(const ServingSnapshot& snap, const MetricsExtras& x) {
  std::lock_guard lock(mu_);
  foldRetired();
  Out o;
  // Queries.
  std::uint64_t rc[2][kRcodeSlots] = {}, qt[2][kQtypeSlots] = {};
  std::uint64_t dropped = 0, truncated = 0, ecs = 0, rrlDropped = 0, rrlSlipped = 0;
  std::uint64_t dnssec = 0, signFailures = 0, signBudgetExhausted = 0;
  std::uint64_t udpBatches = 0, udpDatagrams = 0, udpSendCalls = 0, udpBatchWaits = 0;
  for (const auto& w : workers_) {
    udpBatchWaits += w->udpBatchWaits.load(std::memory_order_relaxed);
    udpBatches += w->udpBatches.load(std::memory_order_relaxed);
    udpDatagrams += w->udpDatagrams.load(std::memory_order_relaxed);
    udpSendCalls += w->udpSendCalls.load(std::memory_order_relaxed);
    const int t = w->transport == Transport::Udp ? 0 : 1;
    for (std::size_t i = 0; i < kRcodeSlots; ++i)
      rc[t][i] += w->rcode[i].load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kQtypeSlots; ++i)
      qt[t][i] += w->qtype[i].load(std::memory_order_relaxed);
    dropped += w->dropped.load(std::memory_order_relaxed);
    truncated += w->truncated.load(std::memory_order_relaxed);
    ecs += w->ecs.load(std::memory_order_relaxed);
    rrlDropped += w->rrlDropped.load(std::memory_order_relaxed);
    rrlSlipped += w->rrlSlipped.load(std::memory_order_relaxed);
    dnssec += w->dnssec.load(std::memory_order_relaxed);
    signFailures += w->signFailures.load(std::memory_order_relaxed);
    signBudgetExhausted += w->signBudgetExhausted.load(std::memory_order_relaxed);
  }
  const char* transports[] = {"udp", "tcp"};
  o.help("geodns_responses_total", "counter", "Responses sent, by rcode and transport.");
  for (int t = 0; t < 2; ++t)
    for (std::size_t i = 0; i < kRcodeSlots; ++i) {
      if (!rc[t][i] && i > 5) continue;
      const char* n = dns::rcodeName(static_cast<std::uint16_t>(i));
      o.line("geodns_responses_total",
             label("rcode", n ? n : "other") + "," + label("transport", transports[t]), rc[t][i]);
    }
  o.help("geodns_queries_total", "counter", "Queries answered, by query type and transport.");
  for (int t = 0; t < 2; ++t)
    for (std::size_t i = 0; i < kQtypeSlots; ++i) {
      if (!qt[t][i]) continue;
      std::string name = i + 1 == kQtypeSlots ? "other" : dns::typeToText(kCountedQtypes[i]);
      o.line("geodns_queries_total", label("qtype", name) + "," + label("transport", transports[t]),
             qt[t][i]);
    }
  o.help("geodns_queries_dropped_total", "counter",
         "Messages dropped without a response (malformed, QR=1).");
  o.line("geodns_queries_dropped_total", "", dropped);
  o.help("geodns_responses_truncated_total", "counter", "Responses sent with TC=1.");
  o.line("geodns_responses_truncated_total", "", truncated);
  o.help("geodns_ecs_responses_total", "counter", "Responses with a non-zero ECS scope.");
  o.line("geodns_ecs_responses_total", "", ecs);
  o.help("geodns_udp_receive_batches_total", "counter",
         "recvmmsg calls that returned datagrams (average batch = datagrams / batches).");
  o.line("geodns_udp_receive_batches_total", "", udpBatches);
  o.help("geodns_udp_datagrams_total", "counter", "UDP datagrams received.");
  o.line("geodns_udp_datagrams_total", "", udpDatagrams);
  o.help("geodns_udp_send_calls_total", "counter", "sendmmsg calls (each sends a batch).");
  o.line("geodns_udp_send_calls_total", "", udpSendCalls);
  o.help("geodns_udp_batch_waits_total", "counter",
         "Waits of a UDP worker for a fuller batch under load (limits.udp_batch_wait_us).");
  o.line("geodns_udp_batch_waits_total", "", udpBatchWaits);
  o.help("geodns_rrl_dropped_total", "counter", "Responses dropped by response rate limiting.");
  o.line("geodns_rrl_dropped_total", "", rrlDropped);
  o.help("geodns_rrl_slipped_total", "counter", "Rate-limited responses sent truncated (slip).");
  o.line("geodns_rrl_slipped_total", "", rrlSlipped);
  o.help("geodns_dnssec_responses_total", "counter",
         "Responses to DO queries from signed zones (with RRSIGs and denial records).");
  o.line("geodns_dnssec_responses_total", "", dnssec);
  o.help("geodns_dnssec_sign_failures_total", "counter",
         "DO answers sent without a signature that could not be made online (they will not "
         "validate).");
  o.line("geodns_dnssec_sign_failures_total", "", signFailures);
  o.help("geodns_dnssec_sign_budget_exhausted_total", "counter",
         "UDP DO answers that needed an online signature beyond "
         "limits.max_signatures_per_second: sent TC=1 without records (the resolver retries "
         "over TCP).");
  o.line("geodns_dnssec_sign_budget_exhausted_total", "", signBudgetExhausted);

  // Answers by pool, region and member, across reloads.
  AnswerTotals totals = retired_;
  for (const auto& c : live_) c->addTo(totals);
  o.help("geodns_pool_answers_total", "counter", "GSLB answers by pool and region.");
  for (const auto& [k, n] : totals.byRegion)
    o.line("geodns_pool_answers_total", label("pool", k.first) + "," + label("region", k.second),
           n);
  o.help("geodns_pool_unanswered_total", "counter",
         "GSLB queries of a pool that got no region (all down or drained: fallback, NODATA, "
         "SERVFAIL).");
  for (const auto& [p, n] : totals.unanswered)
    o.line("geodns_pool_unanswered_total", label("pool", p), n);
  o.help("geodns_member_answers_total", "counter",
         "Address records sent for each member, by pool and region.");
  for (const auto& [k, n] : totals.byMember)
    o.line("geodns_member_answers_total",
           label("pool", std::get<0>(k)) + "," + label("region", std::get<1>(k)) + "," +
               label("member", std::get<2>(k)),
           n);

  // Health as the workers see it now.
  const gslb::Gslb& g = *snap.gslb;
  const health::HealthView* hv =
      snap.health && snap.health->config == g.configId ? snap.health.get() : nullptr;
  std::string upLines, drainLines, loadLines;
  for (const gslb::Pool& p : g.pools)
    for (const gslb::PoolRegion& pr : p.regions)
      for (const auto* ms : {&pr.v4, &pr.v6})
        for (const gslb::Member& m : *ms) {
          const std::string l = "{" + label("pool", p.name) + "," +
                                label("region", g.regions[pr.region].name) + "," +
                                label("member", g.memberNames[m.id]) + "} ";
          bool up = true;
          float load = -1;
          if (hv && m.target >= 0 && static_cast<std::size_t>(m.target) < hv->targets.size()) {
            up = hv->targets[static_cast<std::size_t>(m.target)].up;
            load = hv->targets[static_cast<std::size_t>(m.target)].load;
          }
          if (hv && m.id < hv->memberLoad.size() && hv->memberLoad[m.id] >= 0)
            load = hv->memberLoad[m.id];
          const bool drained =
              hv && ((m.id < hv->memberDrained.size() && hv->memberDrained[m.id]) ||
                     (pr.region < hv->regionDrained.size() && hv->regionDrained[pr.region]));
          upLines += "geodns_member_up" + l + (up ? "1\n" : "0\n");
          drainLines += "geodns_member_drained" + l + (drained ? "1\n" : "0\n");
          if (load >= 0) {
            char num[32];
            std::snprintf(num, sizeof num, "%.4g\n", static_cast<double>(load));
            loadLines += "geodns_member_load" + l + num;
          }
        }
  o.help("geodns_member_up", "gauge", "1 when the member passes its probe (or is not probed).");
  o.text += upLines;
  o.help("geodns_member_drained", "gauge", "1 when an operator drained the member or its region.");
  o.text += drainLines;
  o.help("geodns_member_load", "gauge", "Load of a member in [0,1] (pushed, else from its probe).");
  o.text += loadLines;
  std::string upProbes, latency;
  for (std::size_t i = 0; hv && i < g.probes.size() && i < hv->targets.size(); ++i) {
    // Not the probe key: it may hold header values (tokens) that must not leak.
    const health::ProbeSpec& ps = g.probes[i];
    std::string target = ps.address.family == 6 ? "[" + ps.address.str() + "]" : ps.address.str();
    target += ":" + std::to_string(ps.port);
    if (ps.kind == health::ProbeKind::Http || ps.kind == health::ProbeKind::Https)
      target += ps.path;
    const std::string l =
        "{" + label("kind", health::kindName(ps.kind)) + "," + label("target", target) + "} ";
    upProbes += "geodns_probe_up" + l + (hv->targets[i].up ? "1\n" : "0\n");
    if (hv->targets[i].latencyMs > 0) {
      char num[32];
      std::snprintf(num, sizeof num, "%.3f\n", static_cast<double>(hv->targets[i].latencyMs));
      latency += "geodns_probe_latency_ms" + l + num;
    }
  }
  o.help("geodns_probe_up", "gauge",
         "1 when the probe target counts as up (unknown counts as its unknown_as).");
  o.text += upProbes;
  o.help("geodns_probe_latency_ms", "gauge", "Probe latency EWMA in milliseconds.");
  o.text += latency;
  o.help("geodns_failovers_total", "counter",
         "Changes of a pool's active failover region (automatic and operator).");
  for (const auto& [p, n] : x.failovers) o.line("geodns_failovers_total", label("pool", p), n);
  o.help("geodns_failover_active", "gauge", "1 for the active region of each failover pool.");
  for (const auto& [p, r] : x.activeRegions)
    o.line("geodns_failover_active", label("pool", p) + "," + label("region", r), std::uint64_t{1});
  o.help("geodns_admin_actions_total", "counter",
         "Admin API actions (and override expiries) since start-up.");
  for (const auto& [a, n] : x.adminActions)
    o.line("geodns_admin_actions_total", label("action", a), n);
  o.help("geodns_reloads_total", "counter", "Configuration reloads that took effect.");
  o.line("geodns_reloads_total", "", x.reloads);
  o.help("geodns_reload_failures_total", "counter",
         "Reloads rejected (the old config kept serving).");
  o.line("geodns_reload_failures_total", "", x.reloadFailures);
  o.help("geodns_config_generation", "gauge", "Generation of the snapshot being served.");
  o.line("geodns_config_generation", "", snap.generation);
  o.help("geodns_start_time_seconds", "gauge", "Unix time the server started.");
  o.line("geodns_start_time_seconds", "", x.startUnix);
  renderResilience(o, x.resilience);
  if (x.secondary.enabled) {
    const auto& s = x.secondary;
    o.help("geodns_secondary_checks_total", "counter",
           "SOA checks of secondary zones a primary answered.");
    o.line("geodns_secondary_checks_total", "", s.checks);
    o.help("geodns_secondary_transfers_total", "counter",
           "Zone transfers (AXFR in) completed and kept on disk.");
    o.line("geodns_secondary_transfers_total", "", s.transfers);
    o.help("geodns_secondary_refresh_failures_total", "counter",
           "Refreshes of a secondary zone that failed at every primary.");
    o.line("geodns_secondary_refresh_failures_total", "", s.failures);
    o.help("geodns_secondary_notifies_total", "counter",
           "NOTIFYs from a primary that started a refresh.");
    o.line("geodns_secondary_notifies_total", "", s.notifies);
    o.help("geodns_secondary_expired_total", "counter",
           "Times a secondary zone reached its SOA expire without a successful refresh.");
    o.line("geodns_secondary_expired_total", "", s.expired);
    o.help("geodns_secondary_zone_available", "gauge",
           "1 when a secondary zone is served from a copy, 0 when it answers SERVFAIL (no copy "
           "yet, or expired).");
    for (const auto& z : s.zones)
      o.line("geodns_secondary_zone_available", label("zone", z.origin),
             std::uint64_t{z.available ? 1u : 0u});
    o.help("geodns_secondary_zone_serial", "gauge", "SOA serial of each secondary zone served.");
    for (const auto& z : s.zones)
      if (z.available)
        o.line("geodns_secondary_zone_serial", label("zone", z.origin), std::uint64_t{z.serial});
  }
  if (x.cluster.enabled) {
    const ClusterExtras& c = x.cluster;
    o.help("geodns_cluster_connected", "gauge",
           "1 while this node reaches etcd (0: serving the last applied state).");
    o.line("geodns_cluster_connected", "", std::uint64_t{c.connected ? 1u : 0u});
    o.help("geodns_cluster_applied_revision", "gauge",
           "etcd revision of the shared operator state applied and published here.");
    o.line("geodns_cluster_applied_revision", "", static_cast<double>(c.appliedRevision));
    o.help("geodns_cluster_lag_revisions", "gauge",
           "Newest etcd revision seen minus the applied one (other kinds of keys count too).");
    o.line("geodns_cluster_lag_revisions", "",
           static_cast<double>(std::max<std::int64_t>(0, c.storeRevision - c.appliedRevision)));
    o.help("geodns_cluster_errors_total", "counter", "etcd calls and watches that failed.");
    o.line("geodns_cluster_errors_total", "", c.errors);
    o.help("geodns_cluster_writes_total", "counter", "etcd puts and writing txns sent.");
    o.line("geodns_cluster_writes_total", "", c.writes);
    o.help("geodns_cluster_watch_events_total", "counter", "etcd watch events received.");
    o.line("geodns_cluster_watch_events_total", "", c.watchEvents);
    o.help("geodns_cluster_watch_bytes_total", "counter",
           "Keys and values received in etcd watch events.");
    o.line("geodns_cluster_watch_bytes_total", "", c.watchBytes);
    o.help("geodns_cluster_resyncs_total", "counter",
           "Full reads of a key prefix (start-up, after compaction or an outage).");
    o.line("geodns_cluster_resyncs_total", "", c.resyncs);
    o.help("geodns_cluster_nodes", "gauge", "Live fleet nodes (this one included).");
    o.line("geodns_cluster_nodes", "", static_cast<std::uint64_t>(c.nodes));
  }
  return o.text;
}

}  // namespace geodns::server
