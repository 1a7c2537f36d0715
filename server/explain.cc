#include "server/explain.h"

#include <algorithm>
#include <iterator>

#include <cstring>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/clock.h"
#include "core/wire/dns.h"
#include "core/wire/query.h"
#include "core/wire/query_builder.h"
#include "core/wire/types.h"
#include "server/engine.h"
#include "zones/zone_file.h"

namespace geodns::server {

namespace {

constexpr std::uint16_t kExplainId = 0x4558;  // "EX": a fixed id, so the weighted pick repeats
// The blocks of the databases and nets explain walks around a client to
// find its compiled prefix (gslb::compileDecisionsAround): ~0.1 s in a
// release build. DB-IP Lite City with examples/geodnsd.json needs at most
// ~2.3M (2603:2000::/19, 1.1M networks with one answer); a policy that gives
// most of the world one answer needs more, and explain then shows the
// prefix it proved with "or wider" (docs/config.md, "Seeing the decision").
constexpr std::size_t kAroundMaxNodes = 4'000'000;

std::vector<std::uint8_t> buildQuery(const ExplainRequest& req, const std::string& qname,
                                     std::uint16_t qtype) {
  wire::QuerySpec spec;
  spec.id = kExplainId;
  spec.qname = name::asSpan(qname);
  spec.qtype = qtype;
  spec.edns = true;
  const IpAddress a = req.client.addr.masked(req.client.length);
  if (req.clientIsEcs) {
    spec.ecs = true;
    spec.ecsFamily = a.family == 4 ? wire::kEcsFamilyIpv4 : wire::kEcsFamilyIpv6;
    spec.ecsSource = req.client.length;
    spec.ecsAddress = {a.bytes, a.size()};
  }
  std::vector<std::uint8_t> buf(dns::kMinUdpPayload);
  buf.resize(wire::buildQuery(spec, buf));
  return buf;
}

std::string coord(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

}  // namespace

std::string explain(const ServingSnapshot& served, const ExplainRequest& req, bool& ok) {
  ok = false;
  auto qname = name::fromText(req.name);
  if (!qname) return "bad name '" + req.name + "'\n";
  std::uint16_t qtype = dns::typeFromText(req.type);
  if (qtype == 0) return "unknown type '" + req.type + "'\n";
  nlohmann::ordered_json j;
  std::ostringstream t;
  const std::string clientText =
      req.client.str() + (req.clientIsEcs ? " (ECS, from resolver " + req.resolver.str() + ")"
                                          : " (resolver address, no ECS)");
  j["query"] = {{"name", name::toText(name::asSpan(*qname))}, {"type", dns::typeToText(qtype)}};
  j["client"] = clientText;
  t << "query:    " << name::toText(name::asSpan(*qname)) << " " << dns::typeToText(qtype) << "\n";
  t << "client:   " << clientText << "\n";

  // Run the real engine first: it says whether (and through which binding,
  // also at the end of a CNAME chain or through a wildcard) a pool answers.
  auto query = buildQuery(req, *qname, qtype);
  std::vector<std::uint8_t> out(65535);
  QueryFacts facts;
  const IpAddress source = req.clientIsEcs ? req.resolver : req.client.addr;
  std::size_t n = answer(served, query, out, Transport::Tcp, source, &facts);
  const gslb::Gslb& g = *served.gslb;
  // The engine's inputs for the query above: the client as the engine
  // derives it from the ECS option sent, the query name and id.
  gslb::PoolQuery pq;
  if (facts.gslb && facts.binding >= 0) {
    const IpAddress ecsAddr = req.client.addr.masked(req.client.length);
    pq.binding = static_cast<std::uint32_t>(facts.binding);
    pq.client = gslb::clientFor(g.policies[g.bindings[pq.binding].policy], source,
                                req.clientIsEcs ? (ecsAddr.family == 4 ? 1 : 2) : 0,
                                req.clientIsEcs ? req.client.length : 0, ecsAddr.bytes);
    pq.qtype = qtype;
    pq.qname = name::asSpan(*qname);
    pq.queryId = kExplainId;
  }
  // `geodnsd explain` reads the databases on demand and compiles nothing
  // (Gslb::GeoOpen::OnDemand): compile this client's prefix alone, the one
  // the server's trees hold, and answer again with it (the scope, and so a
  // weighted pick, follow the compiled prefix).
  std::shared_ptr<ServingSnapshot> aroundClient;
  if (facts.gslb && facts.binding >= 0 && g.geoOpen == gslb::Gslb::GeoOpen::OnDemand) {
    aroundClient = std::make_shared<ServingSnapshot>(served);
    aroundClient->compiled =
        gslb::compileDecisionsAround(served.gslb, served.health, pq, kAroundMaxNodes);
    facts = QueryFacts{};
    n = answer(*aroundClient, query, out, Transport::Tcp, source, &facts);
  }
  const ServingSnapshot& snap = aroundClient ? *aroundClient : served;
  if (facts.gslb && facts.binding >= 0) {
    const gslb::Binding& b = g.bindings[static_cast<std::size_t>(facts.binding)];
    const gslb::Pool& pool = g.pools[b.pool];
    const gslb::Policy& policy = g.policies[b.policy];
    t << "binding:  " << b.name << " -> pool " << pool.name << ", policy " << policy.name
      << (policy.ecs ? "" : " (ecs: false)") << "\n";
    j["binding"] = {
        {"name", b.name}, {"pool", pool.name}, {"policy", policy.name}, {"ecs", policy.ecs}};
    const gslb::Client& client = pq.client;
    gslb::PoolDecision pd;
    auto trace = std::make_unique<gslb::Trace>();
    gslb::decidePool(g, pq, snap.health.get(), pd, trace.get());
    // What the server answers for a compiled binding (gslb/compiled.h): the
    // same region, with the compiled prefix as scope (and so, for weighted
    // picks, the members that prefix selects).
    gslb::CompiledHit hit;
    bool compiledHit = false, compiledExact = true;
    if (const gslb::CompiledDecisions* compiled = compiledFor(snap)) {
      compiledExact = compiled->around.exact;
      gslb::PoolDecision pdc;
      compiledHit = gslb::decideCompiled(*compiled, pq, pdc, &hit);
      if (compiledHit) {
        pd.scope = pdc.scope;
        pd.decision.scope = pdc.decision.scope;
        pd.decision.picked = pdc.decision.picked;
        std::copy(std::begin(pdc.decision.members), std::end(pdc.decision.members),
                  std::begin(pd.decision.members));
      }
    }
    const gslb::Decision& d = pd.decision;
    const gslb::Pool& answering = g.pools[static_cast<std::size_t>(pd.pool)];
    const int family = answering.isCname ? 0 : qtype == dns::toU16(dns::Type::AAAA) ? 6 : 4;

    const geo::Location& loc = d.location;
    nlohmann::ordered_json jl;
    if (!policy.usesLocation) {
      t << "location: not used by this policy\n";
      jl["used"] = false;
    } else {
      IpAddress looked =
          client.address.isV4Mapped() ? client.address.v4FromMapped() : client.address;
      std::string net = looked.masked(loc.prefix).str() + "/" + std::to_string(loc.prefix);
      jl["address"] = looked.str();
      jl["found"] = loc.found;
      jl["network"] = net;
      if (loc.netEntry >= 0) {
        const gslb::NetEntry& e = g.nets[static_cast<std::size_t>(loc.netEntry)];
        t << "location: operator net " << e.prefix;
        jl["source"] = "nets " + e.prefix;
        if (e.label >= 0) {
          t << " -> label " << g.labels[static_cast<std::size_t>(e.label)];
          jl["label"] = g.labels[static_cast<std::size_t>(e.label)];
        } else {
          t << " -> fixed region order";
        }
        t << " (holds for " << net << ")\n";
      } else if (loc.found) {
        const geo::Database& db = *g.locator->databases()[static_cast<std::size_t>(loc.database)];
        const geo::FieldPaths& f = db.fields();
        t << "location: " << db.file() << " (" << geo::layoutName(db.layout()) << ", " << db.type()
          << "), network " << net << "\n";
        t << "          continent " << (loc.continent[0] ? loc.continent : "-") << " ["
          << (f.continent.empty() ? "from the country" : f.continent) << "], country "
          << (loc.country[0] ? loc.country : "-") << " [" << f.country << "], subdivision "
          << (loc.subdivision[0] ? loc.subdivision : "-") << " ["
          << (f.subdivision.empty() ? "not read" : f.subdivision) << "]";
        if (loc.hasCoords) t << ", lat " << coord(loc.lat) << " lon " << coord(loc.lon);
        if (loc.asn) t << ", AS" << loc.asn;
        t << "\n";
        jl["database"] = db.file();
        jl["layout"] = geo::layoutName(db.layout());
        jl["continent"] = loc.continent;
        jl["country"] = loc.country;
        jl["subdivision"] = loc.subdivision;
        if (loc.hasCoords) jl["coordinates"] = {loc.lat, loc.lon};
        if (loc.asn) jl["asn"] = loc.asn;
      } else {
        t << "location: not found in any database or net; the miss holds for " << net << "\n";
      }
    }
    j["location"] = jl;

    nlohmann::ordered_json steps = nlohmann::ordered_json::array();
    for (std::uint8_t s = 0; s < trace->steps; ++s) {
      const gslb::Trace::StepLog& log = trace->log[s];
      // Steps from fallbackFrom on ran over the fallback pool.
      const gslb::Pool& over = s >= trace->fallbackFrom ? answering : pool;
      if (s == trace->fallbackFrom)
        t << "fallback: pool " << answering.name << " (all_down of " << pool.name
          << "), same policy:\n";
      nlohmann::ordered_json js;
      js["step"] = gslb::stepName(log.kind);
      if (s >= trace->fallbackFrom) js["pool"] = answering.name;
      t << "step " << int(s + 1) << ":   " << stepName(log.kind);
      if (log.logsMatch) {
        t << " (matched " << geo::matchKindName(log.matched) << ")";
        js["matched"] = geo::matchKindName(log.matched);
      }
      // Both passes run the same policy: the step's own settings.
      const std::size_t stepIndex = s >= trace->fallbackFrom ? s - trace->fallbackFrom : s;
      if (stepIndex < policy.steps.size() && policy.steps[stepIndex].fence) {
        t << " (fence)";
        js["fence"] = true;
      }
      t << " ->";
      nlohmann::ordered_json order = nlohmann::ordered_json::array();
      for (std::uint8_t i = 0; i < log.count; ++i) {
        const std::string& rn = g.regions[over.regions[log.order[i]].region].name;
        t << " " << rn;
        nlohmann::ordered_json jr = {{"region", rn}};
        const config::StepMetric metric = config::stepInfo(log.kind).metric;
        if (metric == config::StepMetric::Km && log.metric[log.order[i]] >= 0) {
          t << " (" << static_cast<long>(log.metric[log.order[i]]) << " km)";
          jr["km"] = static_cast<long>(log.metric[log.order[i]]);
        } else if (metric == config::StepMetric::Ms && log.metric[log.order[i]] >= 0) {
          t << " (" << coord(log.metric[log.order[i]]) << " ms)";
          jr["latency_ms"] = log.metric[log.order[i]];
        }
        order.push_back(jr);
      }
      if (log.count == 0) t << " (none)";
      t << "\n";
      js["order"] = order;
      steps.push_back(js);
    }
    j["steps"] = steps;
    // The pools whose regions the decision looked at.
    std::vector<const gslb::Pool*> pools{&pool};
    if (pd.fellBack) pools.push_back(&answering);
    // Member health, when known (live view, or the state database).
    const health::HealthView* hv = snap.health.get();  // for `g`: checked at publish
    if (hv) {
      nlohmann::ordered_json jh = nlohmann::ordered_json::array();
      for (const gslb::Pool* p : pools) {
        const int fam = p->isCname ? 0 : family == 0 ? 4 : family;
        for (const gslb::PoolRegion& pr : p->regions) {
          for (const gslb::Member& m : fam == 6 ? pr.v6 : pr.v4) {
            if (m.target < 0) continue;
            const health::TargetHealth& th = hv->targets[static_cast<std::size_t>(m.target)];
            const std::string rn = g.regions[pr.region].name;
            t << "health:   " << rn << " " << m.addr.str() << " " << health::stateName(th.state)
              << (th.up               ? " (kept)"
                  : d.healthDependent ? " (dropped: down)"
                                      : " (down, but the policy has no up step)")
              << (th.up && !th.steady ? ", in transition" : "") << ", latency "
              << coord(th.latencyMs) << " ms, load "
              << (th.load >= 0 ? coord(th.load) : std::string("-")) << "\n";
            nlohmann::ordered_json e = {{"region", rn},
                                        {"address", m.addr.str()},
                                        {"state", health::stateName(th.state)},
                                        {"kept", th.up},
                                        {"steady", th.steady},
                                        {"latency_ms", th.latencyMs},
                                        {"load", th.load >= 0 ? nlohmann::ordered_json(th.load)
                                                              : nlohmann::ordered_json(nullptr)}};
            if (pd.fellBack) e["pool"] = p->name;
            if (req.vantages) {
              // The fleet's vantage points: the quorum behind `state`.
              nlohmann::ordered_json jv = nlohmann::ordered_json::array();
              t << "          vantages:";
              for (const auto& v : req.vantages(static_cast<std::size_t>(m.target))) {
                t << " " << v.node << "=" << health::stateName(v.state)
                  << (v.latencyMs ? "(" + coord(*v.latencyMs) + " ms)" : std::string())
                  << (v.live ? "" : "[gone]");
                jv.push_back({{"node", v.node},
                              {"state", health::stateName(v.state)},
                              {"latency_ms", v.latencyMs ? nlohmann::ordered_json(*v.latencyMs)
                                                         : nlohmann::ordered_json(nullptr)},
                              {"live", v.live}});
              }
              t << "\n";
              e["vantages"] = jv;
            }
            jh.push_back(e);
          }
        }
      }
      j["health"] = jh;
    }
    // Candidates passed over because they cannot answer this type.
    for (std::uint8_t i = 0; i < d.candidates && d.chosen; ++i) {
      const gslb::PoolRegion& pr = answering.regions[d.order[i]];
      if (&pr == d.chosen) break;
      const std::string& rn = g.regions[pr.region].name;
      const bool drained =
          hv && pr.region < hv->regionDrained.size() && hv->regionDrained[pr.region];
      t << "skipped:  " << rn
        << (drained ? std::string(" (drained by an operator)")
                    : " (no " + std::string(family == 6 ? "IPv6" : "IPv4") + " members" +
                          (d.drained ? " left undrained)" : ")"))
        << "\n";
      j["skipped"].push_back({{"region", rn}, {"drained", drained}});
    }
    // Operator overrides that touch these pools.
    if (hv) {
      for (const gslb::Pool* p : pools)
        for (const gslb::PoolRegion& pr : p->regions) {
          if (pr.region < hv->regionDrained.size() && hv->regionDrained[pr.region]) {
            t << "drained:  region " << g.regions[pr.region].name << "\n";
            j["drained"].push_back(g.regions[pr.region].name);
          }
          for (const gslb::Member& m : family == 6 ? pr.v6 : pr.v4) {
            if (m.id < hv->memberDrained.size() && hv->memberDrained[m.id]) {
              t << "drained:  member " << g.memberNames[m.id] << "\n";
              j["drained"].push_back(g.memberNames[m.id]);
            }
            if (m.id < hv->memberLoad.size() && hv->memberLoad[m.id] >= 0)
              t << "load:     " << g.memberNames[m.id] << " pushed " << coord(hv->memberLoad[m.id])
                << "\n";
          }
        }
    }
    if (d.fenced && d.drained && d.allDown)
      t << "fence:    drains left none of the regions the client's geo_map list allows; the "
           "pool's other regions are not used\n";
    if (d.chosen) {
      const std::string& rn = g.regions[d.chosen->region].name;
      t << "chosen:   region " << rn;
      if (pd.fellBack) t << " of fallback pool " << answering.name;
      j["chosen_region"] = rn;
      nlohmann::ordered_json members = nlohmann::ordered_json::array();
      if (answering.isCname) {
        t << ", CNAME " << name::toText(name::asSpan(d.chosen->cname));
        j["cname"] = name::toText(name::asSpan(d.chosen->cname));
      }
      for (std::uint8_t i = 0; i < d.picked; ++i) {
        t << (i ? ", " : "; members ") << d.members[i]->addr.str() << " (weight "
          << d.members[i]->weight << ")";
        members.push_back(
            {{"address", d.members[i]->addr.str()}, {"weight", d.members[i]->weight}});
      }
      j["members"] = members;
      t << "\n";
    } else if (pd.poolAllDown && pd.outcome == gslb::PoolOutcome::ServFail) {
      t << "chosen:   nothing (all_down servfail): SERVFAIL\n";
      j["chosen_region"] = nullptr;
    } else if (pd.poolAllDown && !pd.fellBack) {
      t << "chosen:   nothing (all_down nodata): NODATA\n";
      j["chosen_region"] = nullptr;
    } else {
      t << "chosen:   nothing (no candidate region can answer this type): NODATA\n";
      j["chosen_region"] = nullptr;
    }
    const bool primaryAllDown = pd.poolAllDown || (!pd.fellBack && d.allDown);
    if (pd.fellBack)
      t << "all_down: pool " << pool.name << " has no region (down or drained): fallback pool "
        << answering.name << " answers"
        << (d.failedOpen ? " (it has none either: it fails open)" : "") << "\n";
    else if (d.allDown && d.drained)
      t << "drains:   every candidate region is drained: all_down "
        << (d.failedOpen ? "fail_open (drains ignored)" : "applies") << "\n";
    else if (d.allDown)
      t << "health:   no region has enough members up: all_down "
        << (d.failedOpen ? "fail_open" : "applies") << "\n";
    t << "outcome:  " << gslb::outcomeName(pd.outcome) << "\n";
    t << "ttl:      " << pd.ttl
      << (d.ttlCapped ? " (capped: a region ranked ahead of the answer, or a member of it, is "
                        "in transition; the time until its health could change)"
          : d.healthDependent ? " (the pool's ttl: nothing involved is in transition)"
                              : "")
      << "\n";
    t << "scope:    /" << int(pd.scope)
      << (client.fromEcs ? "" : " (no ECS used: the answer is not tied to a client subnet)")
      << "\n";
    j["outcome"] = outcomeName(pd.outcome);
    j["rcode"] = pd.outcome == gslb::PoolOutcome::ServFail ? "SERVFAIL" : "NOERROR";
    j["answer_pool"] = answering.name;
    j["fell_back"] = pd.fellBack;
    j["fenced"] = d.fenced;
    j["ttl"] = pd.ttl;
    j["ttl_capped"] = d.ttlCapped;
    j["all_down"] = primaryAllDown;
    j["ecs_scope"] = pd.scope;
    if (compiledHit) {
      const IpAddress& ca = client.address;
      t << "compiled: " << ca.masked(hit.prefix).str() << "/" << int(hit.prefix)
        << (compiledExact ? "" : " or wider") << " (merged " << (compiledExact ? "" : "at least ")
        << hit.networks << " database or nets networks with the same decision; the scope is "
        << "this prefix capped at the client's source prefix)\n";
      j["compiled"] = {{"prefix", ca.masked(hit.prefix).str() + "/" + std::to_string(hit.prefix)},
                       {"networks", hit.networks}};
      if (!compiledExact) j["compiled"]["exact"] = false;
    } else if (policy.usesLocation) {
      t << "compiled: no (decided per query)\n";
      j["compiled"] = nullptr;
    }
  } else {
    t << "binding:  none (static data from the zone file; ECS scope 0)\n";
    j["binding"] = nullptr;
  }

  std::string wire;
  std::istringstream lines(zones::messageToText(out.data(), n));
  for (std::string line; std::getline(lines, line);)  // drop dig's client-side lines
    if (line.rfind(";; Query time", 0) != 0 && line.rfind(";; WHEN", 0) != 0 &&
        line.rfind(";; SERVER", 0) != 0)
      wire += line + "\n";
  t << "\nanswer:\n" << wire;
  j["answer"] = wire;
  ok = true;
  return req.json ? j.dump(2) + "\n" : t.str();
}

std::shared_ptr<const health::HealthView> healthFromStore(health::Store& store,
                                                          const gslb::Gslb& gslb,
                                                          std::string* err) {
  return healthFromStore(store, gslb, SteadyClock().unixSeconds(), err);
}

std::shared_ptr<const health::HealthView> healthFromStore(health::Store& store,
                                                          const gslb::Gslb& gslb,
                                                          std::int64_t nowUnix, std::string* err) {
  auto view = std::make_shared<health::HealthView>();
  view->config = gslb.configId;
  view->targets.resize(gslb.probes.size());
  for (std::size_t i = 0; i < gslb.probes.size(); ++i) {
    auto rec = store.loadTarget(gslb.probes[i].key());
    health::TargetHealth& h = view->targets[i];
    const auto& spec = gslb.probes[i];
    // Nothing recorded yet: the server's tracker starts in the initial state.
    h = rec ? health::targetHealth(spec, rec->state, rec->ok, rec->fail, rec->latencyMs, rec->load)
            : health::targetHealth(spec, spec.initial, 0, 0, 0, -1);
  }
  // What the server applies too: the active tier of each failover pool and
  // the operator overrides in force (drains, pushed loads).
  view->activeTier.assign(gslb.pools.size(), -1);
  for (std::size_t p = 0; p < gslb.pools.size(); ++p) {
    if (!gslb.pools[p].failover) continue;
    view->activeTier[p] = 0;
    auto rec = store.loadFailover(gslb.pools[p].name);
    if (!rec) continue;
    const auto& tiers = gslb.pools[p].failover->tiers;
    for (std::size_t t = 0; t < tiers.size(); ++t)
      if (gslb.regions[gslb.pools[p].regions[tiers[t]].region].name == rec->activeRegion)
        view->activeTier[p] = static_cast<std::int16_t>(t);
  }
  std::vector<health::OverrideRecord> overrides;
  if (!store.allOverrides(overrides, err)) return nullptr;
  for (const auto& o : overrides)
    if (o.expiresUnix == 0 || o.expiresUnix > nowUnix) gslb::applyOverride(*view, gslb, o);
  return view;
}

std::string statusReport(health::Store& store, const ServingSnapshot& snap, bool asJson) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  std::ostringstream t;
  t << "state    since                 ok fail  latency_ms  load  target  [last error]\n";
  const auto& probes = snap.gslb->probes;
  for (const auto& p : probes) {
    auto rec = store.loadTarget(p.key());
    std::string target =
        std::string(health::kindName(p.kind)) + " " + p.address.str() + ":" +
        std::to_string(p.port) +
        (p.kind == health::ProbeKind::Http || p.kind == health::ProbeKind::Https ? p.path : "");
    nlohmann::ordered_json e = {{"target", target}};
    if (!rec) {
      t << "-        (no probe result recorded yet)           " << target << "\n";
      e["state"] = nullptr;
      j.push_back(e);
      continue;
    }
    char since[32] = "-";
    std::time_t ts = static_cast<std::time_t>(rec->sinceUnix);
    std::tm tm{};
    if (gmtime_r(&ts, &tm)) std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[256];
    std::snprintf(line, sizeof line, "%-8s %-21s %2u %4u  %10.1f  %4s  ",
                  health::stateName(rec->state), since, rec->ok, rec->fail, rec->latencyMs,
                  rec->load >= 0
                      ? std::to_string(static_cast<int>(rec->load * 100)).append("%").c_str()
                      : "-");
    t << line << target << (rec->lastError.empty() ? "" : "  [" + rec->lastError + "]") << "\n";
    e["state"] = health::stateName(rec->state);
    e["since"] = since;
    e["consecutive_ok"] = rec->ok;
    e["consecutive_fail"] = rec->fail;
    e["latency_ms"] = rec->latencyMs;
    e["load"] =
        rec->load >= 0 ? nlohmann::ordered_json(rec->load) : nlohmann::ordered_json(nullptr);
    e["last_error"] = rec->lastError;
    e["updated_unix"] = rec->updatedUnix;
    j.push_back(e);
  }
  return asJson ? j.dump(2) + "\n" : t.str();
}

}  // namespace geodns::server
