#pragma once
// geodnsd.json: listeners, workers, zones and limits. Every error names its
// place (file, JSON pointer, and line:column for syntax errors).
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/steps.h"
#include "core/acl.h"
#include "core/address.h"
#include "core/log.h"
#include "core/result.h"
#include "core/wire/tsig.h"

namespace geodns::config {

// ---- Closed sets of names: parsed once into enums ----
// Each enum has one table of the names written in the JSON (and shown by
// explain and status); the parser, toText() and the tests read that table.

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

enum class GeoLayout : std::uint8_t { Auto, GeoIP2, Flat, Asn };
enum class ProbeType : std::uint8_t { Http, Https, Tcp, Dns };
enum class ProbeState : std::uint8_t { Up, Down };  // "initial" and "unknown_as"
enum class AllDown : std::uint8_t { FailOpen, Fallback, NoData, ServFail };
enum class Failback : std::uint8_t { Auto, Manual };
// A zone's "serial" (issue 15 item 4): what a reload does to the SOA serial.
enum class SerialPolicy : std::uint8_t { Keep, Increment, UnixTime };

inline constexpr std::array<EnumName<GeoLayout>, 4> kGeoLayoutNames{{{GeoLayout::Auto, "auto"},
                                                                     {GeoLayout::GeoIP2, "geoip2"},
                                                                     {GeoLayout::Flat, "flat"},
                                                                     {GeoLayout::Asn, "asn"}}};
inline constexpr std::array<EnumName<ProbeType>, 4> kProbeTypeNames{{{ProbeType::Http, "http"},
                                                                     {ProbeType::Https, "https"},
                                                                     {ProbeType::Tcp, "tcp"},
                                                                     {ProbeType::Dns, "dns"}}};
inline constexpr std::array<EnumName<ProbeState>, 2> kProbeStateNames{
    {{ProbeState::Up, "up"}, {ProbeState::Down, "down"}}};
inline constexpr std::array<EnumName<AllDown>, 4> kAllDownNames{{{AllDown::FailOpen, "fail_open"},
                                                                 {AllDown::Fallback, "fallback"},
                                                                 {AllDown::NoData, "nodata"},
                                                                 {AllDown::ServFail, "servfail"}}};
inline constexpr std::array<EnumName<Failback>, 2> kFailbackNames{
    {{Failback::Auto, "auto"}, {Failback::Manual, "manual"}}};
inline constexpr std::array<EnumName<SerialPolicy>, 3> kSerialPolicyNames{
    {{SerialPolicy::Keep, "keep"},
     {SerialPolicy::Increment, "increment"},
     {SerialPolicy::UnixTime, "unixtime"}}};
inline constexpr std::array<EnumName<log::Format>, 2> kLogFormatNames{
    {{log::Format::Logfmt, "logfmt"}, {log::Format::Json, "json"}}};
inline constexpr std::array<EnumName<log::Level>, 4> kLogLevelNames{{{log::Level::Debug, "debug"},
                                                                     {log::Level::Info, "info"},
                                                                     {log::Level::Warn, "warn"},
                                                                     {log::Level::Error, "error"}}};

// The table of an enum, found by overload: names(E{}).
constexpr const auto& names(GeoLayout) noexcept {
  return kGeoLayoutNames;
}
constexpr const auto& names(ProbeType) noexcept {
  return kProbeTypeNames;
}
constexpr const auto& names(ProbeState) noexcept {
  return kProbeStateNames;
}
constexpr const auto& names(AllDown) noexcept {
  return kAllDownNames;
}
constexpr const auto& names(Failback) noexcept {
  return kFailbackNames;
}
constexpr const auto& names(SerialPolicy) noexcept {
  return kSerialPolicyNames;
}
constexpr const auto& names(log::Format) noexcept {
  return kLogFormatNames;
}
constexpr const auto& names(log::Level) noexcept {
  return kLogLevelNames;
}

// The name of a value as written in the config ("" for a value outside the table).
template <class E>
constexpr std::string_view toText(E value) noexcept {
  for (const auto& e : names(value))
    if (e.value == value) return e.name;
  return {};
}
constexpr std::string_view toText(StepKind kind) noexcept {
  return stepInfo(kind).name;
}

// The value named `text`, or nullopt (names are case-sensitive, as in JSON).
template <class E>
constexpr std::optional<E> fromText(std::string_view text) noexcept {
  for (const auto& e : names(E{}))
    if (e.name == text) return e.value;
  return std::nullopt;
}

// How a signed zone denies existence (online, per query): compact denial
// (RFC 9824, NSEC at the name, NXDOMAIN answered NOERROR) or NSEC3 white lies
// (RFC 7129 appendix B: hashed owners around each name, NXDOMAIN kept).
enum class Denial : std::uint8_t { Compact, Nsec3 };
inline constexpr std::array<EnumName<Denial>, 2> kDenialNames{
    {{Denial::Compact, "compact"}, {Denial::Nsec3, "nsec3"}}};
constexpr const auto& names(Denial) noexcept {
  return kDenialNames;
}

// A zone's "dnssec" object: the keys (BIND .private files, resolved against
// the config's directory) and the signature timing. The keys are loaded and
// checked by zones::loadZones (check-config runs it too).
struct DnssecConfig {
  std::vector<std::string> keys;
  std::vector<std::string> keyWhere;   // place of each key, for errors
  std::uint32_t validity_s = 1209600;  // signature_validity_s: 14 days
  std::uint32_t refresh_s = 302400;    // re-sign when less than this is left: 3.5 days
  Denial denial = Denial::Compact;
  std::string where;  // "geodnsd.json:3:5 /zones/0/dnssec"
};

// Who may transfer a zone (AXFR/IXFR out, RFC 5936): the zone's "transfer"
// object. Without one the zone is not transferable (REFUSED for everyone).
struct TransferConfig {
  bool enabled = false;  // the zone has a "transfer" object
  Acl allow;             // client addresses; empty denies everyone
  std::string tsig;      // a key of "tsig_keys" the request must be signed with; "" = none
};

struct ZoneSpec {
  ZoneSpec() = default;
  ZoneSpec(std::string o, std::string f, std::string w)
      : origin(std::move(o)), file(std::move(f)), where(std::move(w)) {}
  std::string origin;                  // presentation form, as written
  std::string file;                    // resolved against the config file's directory
  std::string where;                   // "geodnsd.json /zones/0" for errors
  std::optional<DnssecConfig> dnssec;  // absent: the zone is served unsigned
  TransferConfig transfer;
  std::vector<SocketAddress> notify;  // secondaries told of each new serial (RFC 1996)
  SerialPolicy serial = SerialPolicy::Keep;
  // Secondary mode (issue 15 item 3): the zone comes by AXFR from these
  // primaries (refreshed on the SOA's timers and on their NOTIFY), and `file`
  // is where the transferred copy is kept, so a restart serves it before the
  // first transfer. Empty: a primary zone read from `file`.
  std::vector<SocketAddress> primaries;
  std::string
      primaryTsig;  // a key of "tsig_keys" for the SOA/AXFR queries and the NOTIFYs; "" = none
  bool secondary() const noexcept { return !primaries.empty(); }
};

// A TSIG key of "tsig_keys" (RFC 8945): the secret is read from `secretFile`
// (base64, whitespace ignored) when the config is parsed, so check-config and
// every reload check it.
struct TsigKeyConfig {
  std::string name;        // as written (the key's domain name)
  std::string algorithm;   // "hmac-sha256" or "hmac-sha512"
  std::string secretFile;  // resolved against the config file's directory
  std::string where;       // place, for messages
};

struct Limits {
  std::uint16_t maxUdpPayload = 1232;      // advertised and enforced EDNS size (bytes)
  std::uint32_t tcpIdleTimeoutMs = 10000;  // RFC 7766 s6.2.3 suggests seconds, not minutes
  std::uint32_t maxTcpConnections = 1024;
  std::uint32_t tcpMaxQueriesPerConnection = 0;  // 0 = unlimited
  std::uint32_t maxTransfers = 10;  // outgoing AXFR/IXFR streams at once (BIND's transfers-out)
  // Online DNSSEC signatures made on the query path over UDP, per second for
  // the whole process, and the burst above that rate (a token bucket:
  // zones/dnssec/sign_budget.h). 0 = no limit. 2000/s is 4% (ECDSA P-256) to
  // 7% (Ed25519) of one core (docs/design/dnssec.md, measured rates).
  std::uint32_t maxSignaturesPerSecond = 2000;
  std::uint32_t signatureBurst = 2000;  // when not given: the rate
  // Precompiled answers (server/fast_answers.h) are built while the served
  // zones hold at most this many names (~150 bytes of memory per name); 0 =
  // never: every query takes the general path.
  std::uint32_t precompiledNames = 250000;
  // At start-up (not on reload), geo databases holding at least this many
  // search-tree nodes in all are compiled after the server starts answering
  // (gslb::Gslb::triesDeferred); 0 = compile first, always.
  std::uint32_t deferGeoCompileNodes = 1000000;
  // Under steady UDP load a worker that received a part-full batch waits up
  // to this long before its next recvmmsg, so that one wake-up and one pair
  // of syscalls serve more datagrams (server/udp.h: udpBatchWaitNs). 0 = never
  // wait.
  std::uint32_t udpBatchWaitUs = 200;
};

// Answers for CHAOS-class TXT queries (version.bind, id.server and aliases);
// REFUSED when not set.
struct ChaosConfig {
  std::optional<std::string> version;
  std::optional<std::string> identity;
};

// ---- GSLB: geo databases, regions, pools, policies, bindings (docs/config.md) ----

struct GeoDatabaseConfig {
  std::string file;  // resolved against the config's directory
  GeoLayout layout = GeoLayout::Auto;
  std::vector<std::pair<std::string, std::string>> fields;  // field -> dotted path
  bool optional = false;
  std::string where;
};

struct NetConfig {
  std::string prefix;                // "10.0.0.0/8"
  std::string label;                 // or
  std::vector<std::string> regions;  // a fixed region order
  std::string where;
};

struct RegionConfig {
  std::string name;
  std::optional<double> lat, lon;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string where;
};

struct MemberConfig {
  std::string address;
  std::uint32_t weight = 1;
  std::string probe;   // name in "probes"; empty = the pool's probe, or none
  std::string target;  // probed address when it differs from `address`
  std::string where;
};

struct ProbeConfig {
  std::string name;
  ProbeType type = ProbeType::Tcp;  // (missing "type" is an error)
  std::uint32_t port = 0;           // 0 = the type's default
  std::string method = "GET", path = "/", host, bodyContains;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<int, int>> expectStatus;  // empty = 200-399
  bool tlsVerify = true;
  std::string loadHeader, loadJsonPointer;
  std::string dnsName;
  std::uint16_t dnsType = 1;  // "qtype", a type mnemonic (A)
  std::uint8_t dnsRcode = 0;  // "rcode", NOERROR..REFUSED (dnsRcodeFromText)
  bool dnsExpectAnswer = false;
  std::uint32_t intervalMs = 1000, timeoutMs = 1000, rise = 2, fall = 3, staleAfter = 3;
  double jitter = 0.1;
  ProbeState initial = ProbeState::Up;
  ProbeState unknownAs = ProbeState::Up;  // stale or no data: counted as up (fail open) or down
  std::string where;
};

struct PoolRegionConfig {
  std::string region;
  std::vector<MemberConfig> members;
  std::string cname;  // presentation form; set instead of members
  std::string where;
};

struct PoolConfig {
  std::string name;
  std::uint32_t ttl = 60;
  std::uint32_t maxAnswers = 1;
  std::string probe;      // default probe of its members
  double minHealthy = 1;  // >= 1: a count of members; < 1: a fraction
  AllDown allDown = AllDown::FailOpen;
  std::string fallbackPool;
  // Active-passive: "failover": {"primary", "standby": [...], "promote_after_s",
  // "failback_after_s", "failback": "auto"|"manual"}; primary empty = none.
  std::string failoverPrimary;
  std::vector<std::string> failoverStandby;
  std::uint32_t promoteAfterSec = 30, failbackAfterSec = 300;
  Failback failback = Failback::Auto;
  std::vector<PoolRegionConfig> regions;
  std::string where;
};

struct StepConfig {
  StepKind kind = StepKind::Weighted;  // config/steps.h (an unknown name is an error)
  std::vector<std::pair<std::string, std::vector<std::string>>> map;  // geo_map: key -> regions
  // geo_map: a matched list fences the client in (drains give all_down, not other regions)
  bool fence = false;
  std::vector<std::pair<std::string, double>> biasKm;  // nearest
  std::uint32_t n = 1;                                 // first_n
  double high = 0.9, low = 0.7;                        // shed_load
  double slackMs = 20;                                 // latency
  std::string where;
};

struct PolicyConfig {
  std::string name;
  bool ecs = true;
  std::vector<StepConfig> steps;
  std::string where;
};

struct BindingConfig {
  std::string name;  // owner name, may start with "*."
  std::string pool;
  std::string policy;
  std::string where;
};

// Route 53-style vote of the fleet's vantage nodes (only with "cluster"): a
// target is up when at least min(minUp, voters) and at least fraction x
// voters of the live nodes with a current verdict see it up.
enum class LatencySourceConfig : std::uint8_t { Local, Median };
struct QuorumConfig {
  std::uint32_t minUp = 1;
  double fraction = 0.5;  // in [0, 1]
  LatencySourceConfig latency = LatencySourceConfig::Local;
  std::uint32_t staleAfterSec = 30;  // a peer's verdict not re-confirmed for this long stops voting
};

struct HealthConfig {
  std::uint32_t minTtl = 5;        // health-dependent answers never get a TTL below this (seconds)
  std::string database;            // RocksDB directory for persisted state; empty = none
  std::uint32_t maxAgeSec = 3600;  // persisted state older than this is discarded at start-up
  std::uint32_t history = 100;     // results kept per target
  std::string databaseWhere;       // "geodnsd.json:12:17 /health/database" for start-up errors
  QuorumConfig quorum;
};

struct GslbConfig {
  std::vector<GeoDatabaseConfig> databases;
  std::optional<GeoDatabaseConfig> asnDatabase;
  std::vector<NetConfig> nets;
  std::vector<RegionConfig> regions;
  std::vector<PoolConfig> pools;
  std::vector<PolicyConfig> policies;
  std::vector<BindingConfig> bindings;
  std::vector<ProbeConfig> probes;
  HealthConfig health;
};

// Response rate limiting (UDP only; off unless "rrl" is present and enabled).
struct RrlConfig {
  bool enabled = false;
  std::uint32_t responsesPerSecond = 20;  // identical responses per client prefix (1..30000)
  std::uint32_t slip = 2;                 // every Nth limited response goes out truncated; 0 never
  std::uint8_t ipv4Prefix = 24, ipv6Prefix = 56;
  std::uint32_t tableSize = 65536;  // buckets (fixed at start-up)
};

// Logging. The sampled query log goes to its own file.
struct LogConfig {
  std::optional<log::Format> format;   // nullopt = the command line's (default logfmt)
  std::optional<log::Level> level;     // nullopt = the command line's
  std::string queryLogFile;            // empty = no query log
  std::uint32_t queryLogSample = 100;  // one query in N per worker
  std::string queryLogWhere;           // place of "file", for start-up errors
};

// The admin HTTP API; off unless the config has an "admin" object.
struct AdminConfig {
  bool enabled = false;
  std::string listen = "127.0.0.1:8053";
  std::string tokenFile;  // resolved against the config's directory
  unsigned threads = 4;
  std::string listenWhere, tokenFileWhere;  // places, for start-up errors
};

// A fleet of geodnsd nodes sharing operator state and health through etcd
// (docs/design/cluster.md); off unless the config has a "cluster" object.
struct ClusterTlsConfig {
  std::string caFile, certFile, keyFile;  // resolved against the config's directory
};
struct ClusterConfig {
  bool enabled = false;
  std::vector<std::string> etcd;  // client URLs, http:// or https://
  std::string prefix = "/geodns/";
  std::string node;  // unique in the fleet: [A-Za-z0-9._-]{1,64}
  std::string site;
  std::uint32_t timeoutMs = 2000;         // per request per endpoint
  std::uint32_t leaseTtlSec = 10;         // a node is gone this long after its last keep-alive
  std::uint32_t auditRetentionDays = 90;  // older P/audit/ records are deleted; 0 keeps them all
  ClusterTlsConfig tls;
  std::string user;          // "auth": {"user", "password_file"}
  std::string passwordFile;  // read at start-up; never logged
  std::string where;         // "geodnsd.json:40:14 /cluster" for start-up errors
};

struct ServerConfig {
  std::string path;                 // the config file, empty for command-line configs
  std::vector<std::string> listen;  // "addr:port"
  unsigned workers = 0;             // 0 = one per core
  std::vector<ZoneSpec> zones;
  std::vector<TsigKeyConfig> tsigKeys;
  tsig::Keyring keyring;  // the keys of tsigKeys with their secrets
  Limits limits;
  ChaosConfig chaos;
  GslbConfig gslb;
  AdminConfig admin;
  RrlConfig rrl;
  LogConfig log;
  ClusterConfig cluster;
  std::vector<std::string> listenWhere;  // the place of each of `listen` (JSON path or flag)
};

// Parses the JSON text of a config file. `path` is used for messages and to
// resolve relative zone paths. Returns nullopt when `errors` gained entries.
std::optional<ServerConfig> parseConfig(const std::string& text, const std::string& path,
                                        ErrorList& errors);
std::optional<ServerConfig> loadConfigFile(const std::string& path, ErrorList& errors);

// The same parse, but what could be read is returned even when `errors`
// gained entries, so that later checks (zone files, bindings against zones,
// geo databases, start-up checks) can report their errors in the same run.
// An element with an error may be present with defaults or empty fields;
// callers must only run checks that are safe on such data. nullopt only when
// there is nothing to read: no file, a JSON syntax error, no JSON object.
std::optional<ServerConfig> parseConfigBestEffort(const std::string& text, const std::string& path,
                                                  ErrorList& errors);
std::optional<ServerConfig> loadConfigFileBestEffort(const std::string& path, ErrorList& errors);

// "NOERROR".."REFUSED" -> 0..5, or -1.
int dnsRcodeFromText(const std::string& text);

}  // namespace geodns::config
