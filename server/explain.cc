#include "server/explain.h"

#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/dns.h"
#include "core/wire.h"
#include "server/engine.h"
#include "zones/zone_file.h"

namespace geodns::server {

namespace {

std::vector<std::uint8_t> buildQuery(const ExplainRequest& req, const std::string& qname,
                                     std::uint16_t qtype) {
  std::vector<std::uint8_t> buf(512);
  Writer w(buf.data(), buf.size());
  w.u16(0x4558);  // "EX": a fixed id, so the weighted pick is the same on every run
  w.u16(0);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(1);
  w.bytes(name::asSpan(qname));
  w.u16(qtype);
  w.u16(dns::kClassIN);
  w.u8(0);
  w.u16(41);
  w.u16(1232);
  w.u32(0);
  if (req.clientIsEcs) {
    const std::size_t len = (req.client.length + 7u) / 8u;
    const IpAddress a = req.client.addr.masked(req.client.length);
    w.u16(static_cast<std::uint16_t>(8 + len));
    w.u16(8);
    w.u16(static_cast<std::uint16_t>(4 + len));
    w.u16(a.family == 4 ? 1 : 2);
    w.u8(req.client.length);
    w.u8(0);
    w.bytes({a.bytes, len});
  } else {
    w.u16(0);
  }
  buf.resize(w.size());
  return buf;
}

std::string coord(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

}  // namespace

std::string explain(const ServingSnapshot& snap, const ExplainRequest& req, bool& ok) {
  ok = false;
  auto qname = name::fromText(req.name);
  if (!qname) return "bad name '" + req.name + "'\n";
  std::uint16_t qtype = zones::typeFromText(req.type);
  if (qtype == 0) return "unknown type '" + req.type + "'\n";
  nlohmann::ordered_json j;
  std::ostringstream t;
  const std::string clientText =
      req.client.str() + (req.clientIsEcs ? " (ECS, from resolver " + req.resolver.str() + ")"
                                          : " (resolver address, no ECS)");
  j["query"] = {{"name", name::toText(name::asSpan(*qname))}, {"type", zones::typeToText(qtype)}};
  j["client"] = clientText;
  t << "query:    " << name::toText(name::asSpan(*qname)) << " " << zones::typeToText(qtype)
    << "\n";
  t << "client:   " << clientText << "\n";

  // Run the real engine first: it says whether (and through which binding,
  // also at the end of a CNAME chain or through a wildcard) a pool answers.
  auto query = buildQuery(req, *qname, qtype);
  std::vector<std::uint8_t> out(65535);
  QueryFacts facts;
  const IpAddress source = req.clientIsEcs ? req.resolver : req.client.addr;
  const std::size_t n = answer(snap, query, out, Transport::Tcp, source, &facts);
  const Gslb& g = *snap.gslb;
  if (facts.gslb && facts.binding >= 0) {
    const Binding& b = g.bindings[static_cast<std::size_t>(facts.binding)];
    const Pool& pool = g.pools[b.pool];
    const Policy& policy = g.policies[b.policy];
    t << "binding:  " << b.name << " -> pool " << pool.name << ", policy " << policy.name
      << (policy.ecs ? "" : " (ecs: false)") << "\n";
    j["binding"] = {
        {"name", b.name}, {"pool", pool.name}, {"policy", policy.name}, {"ecs", policy.ecs}};
    Client client{req.clientIsEcs ? req.client.addr.masked(req.client.length) : req.client.addr,
                  req.clientIsEcs ? req.client.length : req.client.addr.bits(), req.clientIsEcs};
    if (req.clientIsEcs && (!policy.ecs || req.client.length == 0))
      client = Client{req.resolver, req.resolver.bits(), false};
    int family = pool.isCname ? 0 : qtype == dns::toU16(dns::Type::AAAA) ? 6 : 4;
    Decision d;
    Trace trace;
    // The same inputs as the engine: the query name and id of the query above.
    decide(g, b, pool, client, family, name::asSpan(*qname), 0x4558, snap.health.get(), d, &trace);

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
        const NetEntry& e = g.nets[static_cast<std::size_t>(loc.netEntry)];
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
    for (std::uint8_t s = 0; s < trace.steps; ++s) {
      const Trace::StepLog& log = trace.log[s];
      nlohmann::ordered_json js;
      js["step"] = stepName(log.kind);
      t << "step " << int(s + 1) << ":   " << stepName(log.kind);
      if (log.kind == StepKind::GeoMap ||
          (log.kind == StepKind::Nearest && log.matched == geo::MatchKind::Net)) {
        t << " (matched " << geo::matchKindName(log.matched) << ")";
        js["matched"] = geo::matchKindName(log.matched);
      }
      t << " ->";
      nlohmann::ordered_json order = nlohmann::ordered_json::array();
      for (std::uint8_t i = 0; i < log.count; ++i) {
        const std::string& rn = g.regions[pool.regions[log.order[i]].region].name;
        t << " " << rn;
        nlohmann::ordered_json jr = {{"region", rn}};
        if (log.kind == StepKind::Nearest && log.metric[log.order[i]] >= 0) {
          t << " (" << static_cast<long>(log.metric[log.order[i]]) << " km)";
          jr["km"] = static_cast<long>(log.metric[log.order[i]]);
        } else if (log.kind == StepKind::Latency && log.metric[log.order[i]] >= 0) {
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
    // Member health, when known (live view, or the state database).
    const health::HealthView* hv =
        snap.health && snap.health->forConfig == &g ? snap.health.get() : nullptr;
    if (hv) {
      nlohmann::ordered_json jh = nlohmann::ordered_json::array();
      for (const PoolRegion& pr : pool.regions) {
        for (const Member& m : family == 6 ? pr.v6 : pr.v4) {
          if (m.target < 0) continue;
          const health::TargetHealth& th = hv->targets[static_cast<std::size_t>(m.target)];
          const std::string rn = g.regions[pr.region].name;
          t << "health:   " << rn << " " << m.addr.str() << " " << health::stateName(th.state)
            << (th.up               ? " (kept)"
                : d.healthDependent ? " (dropped: down)"
                                    : " (down, but the policy has no up step)")
            << ", latency " << coord(th.latencyMs) << " ms, load "
            << (th.load >= 0 ? coord(th.load) : std::string("-")) << "\n";
          jh.push_back({{"region", rn},
                        {"address", m.addr.str()},
                        {"state", health::stateName(th.state)},
                        {"kept", th.up},
                        {"latency_ms", th.latencyMs},
                        {"load", th.load >= 0 ? nlohmann::ordered_json(th.load)
                                              : nlohmann::ordered_json(nullptr)}});
        }
      }
      j["health"] = jh;
    }
    // Candidates passed over because they cannot answer this type.
    for (std::uint8_t i = 0; i < d.candidates && d.chosen; ++i) {
      const PoolRegion& pr = pool.regions[d.order[i]];
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
    // Operator overrides that touch this pool.
    if (hv) {
      for (const PoolRegion& pr : pool.regions) {
        if (pr.region < hv->regionDrained.size() && hv->regionDrained[pr.region]) {
          t << "drained:  region " << g.regions[pr.region].name << "\n";
          j["drained"].push_back(g.regions[pr.region].name);
        }
        for (const Member& m : family == 6 ? pr.v6 : pr.v4) {
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
    if (d.chosen) {
      const std::string& rn = g.regions[d.chosen->region].name;
      t << "chosen:   region " << rn;
      j["chosen_region"] = rn;
      nlohmann::ordered_json members = nlohmann::ordered_json::array();
      if (pool.isCname) {
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
    } else {
      t << "chosen:   nothing (no candidate region can answer this type): NODATA\n";
      j["chosen_region"] = nullptr;
    }
    if (d.allDown && d.drained)
      t << "drains:   every candidate region is drained: all_down "
        << (d.failedOpen ? "fail_open (drains ignored)" : "applies") << "\n";
    else if (d.allDown)
      t << "health:   no region has enough members up: all_down "
        << (d.failedOpen ? "fail_open" : "applies") << "\n";
    t << "ttl:      " << d.ttl
      << (d.healthDependent ? " (capped by the time until health could change)" : "") << "\n";
    t << "scope:    /" << int(client.fromEcs ? d.scope : 0)
      << (client.fromEcs ? "" : " (no ECS used: the answer is not tied to a client subnet)")
      << "\n";
    j["ttl"] = d.ttl;
    j["all_down"] = d.allDown;
    j["ecs_scope"] = client.fromEcs ? d.scope : 0;
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

std::shared_ptr<const health::HealthView> healthFromStore(health::Store& store, const Gslb& gslb) {
  auto view = std::make_shared<health::HealthView>();
  view->forConfig = &gslb;
  view->targets.resize(gslb.probes.size());
  for (std::size_t i = 0; i < gslb.probes.size(); ++i) {
    auto rec = store.loadTarget(gslb.probes[i].key());
    health::TargetHealth& h = view->targets[i];
    if (!rec) continue;  // unknown: counts as up
    h.state = rec->state;
    h.up = rec->state == health::State::Up ||
           (rec->state == health::State::Unknown && gslb.probes[i].unknownIsUp);
    h.latencyMs = static_cast<float>(rec->latencyMs);
    h.load = static_cast<float>(rec->load);
    const auto& spec = gslb.probes[i];
    const unsigned left =
        rec->state == health::State::Up     ? (spec.fall > rec->fail ? spec.fall - rec->fail : 1)
        : rec->state == health::State::Down ? (spec.rise > rec->ok ? spec.rise - rec->ok : 1)
                                            : 1;
    h.changeInSec = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(spec.interval * left).count());
  }
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
