// RocksDB behind health::Store; the only file that includes RocksDB.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <rocksdb/listener.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>

#include "core/log.h"
#include "health/rocks_store_testing.h"
#include "health/store.h"

namespace geodns::health {
namespace {

using json = nlohmann::json;

std::string encode(const TargetRecord& r) {
  return json{{"state", stateName(r.state)},
              {"since", r.sinceUnix},
              {"ok", r.ok},
              {"fail", r.fail},
              {"latency_ms", r.latencyMs},
              {"load", r.load},
              {"error", r.lastError},
              {"updated", r.updatedUnix}}
      .dump();
}

std::optional<TargetRecord> decode(const std::string& key, const std::string& v) {
  auto j = json::parse(v, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  TargetRecord r;
  r.key = key;
  const std::string s = j.value("state", "unknown");
  r.state = s == "up" ? State::Up : s == "down" ? State::Down : State::Unknown;
  r.sinceUnix = j.value("since", std::int64_t{0});
  r.ok = j.value("ok", 0u);
  r.fail = j.value("fail", 0u);
  r.latencyMs = j.value("latency_ms", 0.0);
  r.load = j.value("load", -1.0);
  r.lastError = j.value("error", std::string());
  r.updatedUnix = j.value("updated", std::int64_t{0});
  return r;
}

json encodeOverride(const OverrideRecord& r) {
  return json{{"kind", r.kind},        {"target", r.target},       {"reason", r.reason},
              {"value", r.value},      {"created", r.createdUnix}, {"expires", r.expiresUnix},
              {"identity", r.identity}};
}

json encodeAudit(const AuditRecord& r) {
  return json{{"t", r.unixMs},      {"action", r.action},     {"target", r.target},
              {"reason", r.reason}, {"identity", r.identity}, {"detail", r.detail}};
}

// Audit keys sort by time: 8 bytes of milliseconds and 8 of sequence, big-endian.
std::string auditKey(std::int64_t unixMs, std::uint64_t seq) {
  std::string k(16, '\0');
  for (int i = 0; i < 8; ++i) {
    k[static_cast<std::size_t>(i)] =
        static_cast<char>(static_cast<std::uint64_t>(unixMs) >> (56 - 8 * i));
    k[static_cast<std::size_t>(8 + i)] = static_cast<char>(seq >> (56 - 8 * i));
  }
  return k;
}

// RocksDB's info log, into geodnsd's log. RocksDB would otherwise write it
// to LOG beside the data, through a file writer that (in 7.8) asserts when it
// is written again after a failed write: on a full disk the first ENOSPC in
// LOG turned the next log line into an abort() of the whole process. Only
// warnings and errors are forwarded, rate-limited.
class RocksLogger final : public rocksdb::Logger {
 public:
  RocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char text[512];
    std::vsnprintf(text, sizeof text, format, ap);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL)
      GEODNS_LOG_LIMITED(Error, "rocksdb: %s", text);
    else
      GEODNS_LOG_LIMITED(Warn, "rocksdb: %s", text);
  }
};

// Whether the database takes writes, and what failed last. Shared with the
// event listener, which RocksDB calls from its background threads.
class Condition {
 public:
  void failed(const char* what, const rocksdb::Status& s, bool write) {
    bool first = false;
    {
      std::lock_guard lock(mu_);
      ++errors_;
      error_ = std::string(what) + ": " + s.ToString();
      if (write && writable_) {
        writable_ = false;
        first = true;
      }
    }
    if (first)
      GEODNS_LOG_LIMITED(
          Error,
          "state database is not writable (%s: %s): DNS keeps answering from memory; "
          "admin writes get 503 until it recovers",
          what, s.ToString().c_str());
    else
      GEODNS_LOG_LIMITED(Error, "state database: %s failed: %s", what, s.ToString().c_str());
  }
  // A background error (flush, compaction, WAL) reported by RocksDB. The
  // flush of a recovery attempt that fails again is not another error.
  void background(const rocksdb::Status& s) {
    if (resuming_.load()) return stillBroken(s);
    failed("background work", s, true);
  }
  std::atomic<bool> resuming_{false};  // set around Resume()
  void recovered() {
    {
      std::lock_guard lock(mu_);
      if (writable_) return;
      writable_ = true;
      ++recoveries_;
    }
    GEODNS_LOG_INFO("state database writable again");
  }
  void stillBroken(const rocksdb::Status& s) {
    std::lock_guard lock(mu_);
    if (!s.IsBusy()) error_ = "resume: " + s.ToString();
  }
  bool writable() const {
    std::lock_guard lock(mu_);
    return writable_;
  }
  StoreStatus status() const {
    std::lock_guard lock(mu_);
    return {writable_, error_, errors_, recoveries_};
  }

 private:
  mutable std::mutex mu_;
  bool writable_ = true;
  std::string error_;
  std::uint64_t errors_ = 0, recoveries_ = 0;
};

class Listener final : public rocksdb::EventListener {
 public:
  explicit Listener(std::shared_ptr<Condition> c) : condition_(std::move(c)) {}
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    // A failed Write() is counted by the caller that sees it.
    if (reason == rocksdb::BackgroundErrorReason::kWriteCallback) return;
    if (error && !error->ok()) condition_->background(*error);
  }
  // RocksDB hands a full disk to its SstFileManager, which waits until a
  // whole write buffer (64 MiB by default) is free and answers every manual
  // Resume() with Busy meanwhile: on a small volume it never recovers. We
  // resume ourselves (RocksStore::recover(), once a second).
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status error,
                            bool* autoRecovery) override {
    if (autoRecovery && (error.subcode() == rocksdb::Status::SubCode::kNoSpace ||
                         error.subcode() == rocksdb::Status::SubCode::kSpaceLimit))
      *autoRecovery = false;
  }

 private:
  std::shared_ptr<Condition> condition_;
};

// Column families, in the order they are opened.
enum Cf : std::size_t { kDefault, kHealth, kHistory, kFailover, kAdmin, kAudit };
constexpr const char* kCfNames[] = {"default", "health", "history", "failover", "admin", "audit"};

constexpr const char* kZoneSerialPrefix = "zone_serial:";

std::string toHex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

bool fromHex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  auto value = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  out.clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = value(hex[i]), lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

rocksdb::ReadOptions verifying() {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  return ro;
}

json parseObject(const rocksdb::Slice& v) {
  auto j = json::parse(v.data(), v.data() + v.size(), nullptr, false);
  return j.is_object() ? j : json();
}

OverrideRecord overrideFrom(const std::string& key, const json& j) {
  OverrideRecord r;
  r.key = key;
  r.kind = j.value("kind", std::string());
  r.target = j.value("target", std::string());
  r.reason = j.value("reason", std::string());
  r.value = j.value("value", 0.0);
  r.createdUnix = j.value("created", std::int64_t{0});
  r.expiresUnix = j.value("expires", std::int64_t{0});
  r.identity = j.value("identity", std::string());
  return r;
}

AuditRecord auditFrom(const json& j) {
  return {j.value("t", std::int64_t{0}),      j.value("action", std::string()),
          j.value("target", std::string()),   j.value("reason", std::string()),
          j.value("identity", std::string()), j.value("detail", std::string())};
}

json encodeFailover(const FailoverRecord& r) {
  return json{{"active", r.activeRegion},
              {"since", r.sinceUnix},
              {"reason", r.reason},
              {"forced", r.forced}};
}

class RocksStore final : public Store {
 public:
  RocksStore(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> cfs, std::size_t limit,
             std::shared_ptr<Condition> condition)
      : db_(db), cfs_(std::move(cfs)), limit_(limit), condition_(std::move(condition)) {}
  ~RocksStore() override {
    // Shutdown: everything written is on disk. Not after a failed write:
    // syncing a WAL whose writer saw an error asserts in RocksDB 7.8, and
    // there is nothing it could add.
    if (condition_->writable()) db_->FlushWAL(true).PermitUncheckedError();
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close().PermitUncheckedError();
    delete db_;
  }
  void saveTarget(const TargetRecord& r) override {
    check("saving a target's state", db_->Put(wo_, cfs_[kHealth], r.key, encode(r)));
  }
  void appendHistory(const std::string& key, const HistoryEntry& e) override {
    // A ring of `limit` slots per target keeps the history bounded.
    auto& n = next_[key];
    const std::string k = key + '\0' + std::to_string(n);
    n = (n + 1) % limit_;
    check("appending history",
          db_->Put(
              wo_, cfs_[kHistory], k,
              json{{"t", e.unixMs}, {"ok", e.ok}, {"ms", e.totalMs}, {"error", e.error}}.dump()));
  }
  std::optional<TargetRecord> loadTarget(const std::string& key) override {
    std::string v;
    if (!get(kHealth, key, v, "reading a target's state")) return std::nullopt;
    auto r = decode(key, v);
    if (!r) corruptValue("health", key);
    return r;
  }
  bool allTargets(std::vector<TargetRecord>& out, std::string* err) override {
    out.clear();
    return scan(kHealth, err, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
      auto r = decode(k.ToString(), v.ToString());
      if (r) out.push_back(std::move(*r));
      return r.has_value();
    });
  }
  void saveFailover(const FailoverRecord& r) override {
    check("saving a failover state",
          db_->Put(wo_, cfs_[kFailover], r.pool, encodeFailover(r).dump()));
  }
  std::optional<FailoverRecord> loadFailover(const std::string& pool) override {
    std::string v;
    if (!get(kFailover, pool, v, "reading a failover state")) return std::nullopt;
    json j = parseObject(v);
    if (j.is_null()) {
      corruptValue("failover", pool);
      return std::nullopt;
    }
    return FailoverRecord{pool, j.value("active", std::string()), j.value("since", std::int64_t{0}),
                          j.value("reason", std::string()), j.value("forced", false)};
  }
  bool commitAdmin(const std::vector<OverrideRecord>& puts, const std::vector<std::string>& deletes,
                   const std::vector<AuditRecord>& audit, std::string* err) override {
    std::lock_guard lock(adminMu_);  // any thread; keeps the audit order unique
    rocksdb::WriteBatch batch;
    for (const auto& k : deletes) batch.Delete(cfs_[kAdmin], k);
    for (const auto& r : puts) batch.Put(cfs_[kAdmin], r.key, encodeOverride(r).dump());
    for (const auto& a : audit) putAudit(batch, a);
    return writeSynced(batch, "recording an admin action", err);
  }
  bool commitFailover(const FailoverRecord& r, const AuditRecord& audit,
                      std::string* err) override {
    std::lock_guard lock(adminMu_);
    rocksdb::WriteBatch batch;
    batch.Put(cfs_[kFailover], r.pool, encodeFailover(r).dump());
    putAudit(batch, audit);
    return writeSynced(batch, "recording a failover", err);
  }
  // In the default column family, keyed "zone_serial:" + the origin's wire
  // bytes in hex; the value {"serial": N, "hash": "16 hex digits"}.
  bool saveZoneSerials(const std::vector<ZoneSerialRecord>& zones, std::string* err) override {
    rocksdb::WriteBatch batch;
    for (const auto& z : zones) {
      char hash[17];
      std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(z.contentHash));
      batch.Put(cfs_[kDefault], std::string(kZoneSerialPrefix) + toHex(z.origin),
                json{{"serial", z.serial}, {"hash", hash}}.dump());
    }
    return writeSynced(batch, "recording the zones' serials", err);
  }
  bool zoneSerials(std::vector<ZoneSerialRecord>& out, std::string* err) override {
    out.clear();
    return scan(kDefault, err, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
      if (!k.starts_with(kZoneSerialPrefix)) return true;  // not ours
      json j = parseObject(v);
      ZoneSerialRecord r;
      const std::string hash = j.is_null() ? "" : j.value("hash", std::string());
      char* end = nullptr;
      r.contentHash = std::strtoull(hash.c_str(), &end, 16);
      const auto serial = j.is_null() ? json() : j.value("serial", json());
      std::string origin;
      if (!serial.is_number_unsigned() || serial.get<std::uint64_t>() > UINT32_MAX ||
          hash.size() != 16 || *end != '\0' ||
          !fromHex(std::string_view(k.data(), k.size()).substr(std::strlen(kZoneSerialPrefix)),
                   origin))
        return false;
      r.serial = serial.get<std::uint32_t>();
      r.origin = std::move(origin);
      out.push_back(std::move(r));
      return true;
    });
  }
  bool allOverrides(std::vector<OverrideRecord>& out, std::string* err) override {
    out.clear();
    return scan(kAdmin, err, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
      json j = parseObject(v);
      if (j.is_null()) return false;
      out.push_back(overrideFrom(k.ToString(), j));
      return true;
    });
  }
  bool audit(std::size_t limit, std::vector<AuditRecord>& out, std::string* err) override {
    out.clear();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(verifying(), cfs_[kAudit]));
    for (it->SeekToLast(); it->Valid() && out.size() < limit; it->Prev()) {
      json j = parseObject(it->value());
      if (j.is_null()) return readFailed(err, "audit", rocksdb::Status::Corruption("not JSON"));
      out.push_back(auditFrom(j));
    }
    if (!it->status().ok()) return readFailed(err, "audit", it->status());
    std::reverse(out.begin(), out.end());
    return true;
  }
  // Continues the audit order after the newest stored record.
  void initAuditSeq() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kAudit]));
    it->SeekToLast();
    if (it->Valid() && it->key().size() == 16) {
      std::uint64_t ms = 0, seq = 0;
      for (std::size_t i = 0; i < 8; ++i) {
        ms = (ms << 8) | static_cast<unsigned char>(it->key()[i]);
        seq = (seq << 8) | static_cast<unsigned char>(it->key()[8 + i]);
      }
      lastAuditMs_ = static_cast<std::int64_t>(ms);
      auditSeq_ = seq + 1;
    }
  }
  bool history(const std::string& key, std::vector<HistoryEntry>& out, std::string* err) override {
    out.clear();
    const std::string prefix = key + '\0';
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(verifying(), cfs_[kHistory]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      json j = parseObject(it->value());
      if (j.is_null()) return readFailed(err, "history", rocksdb::Status::Corruption("not JSON"));
      out.push_back({j.value("t", std::int64_t{0}), j.value("ok", false), j.value("ms", 0.0),
                     j.value("error", std::string())});
    }
    if (!it->status().ok()) return readFailed(err, "history", it->status());
    std::sort(out.begin(), out.end(),
              [](const HistoryEntry& a, const HistoryEntry& b) { return a.unixMs < b.unixMs; });
    return true;
  }
  StoreStatus status() const override { return condition_->status(); }
  bool recover() override {
    if (condition_->writable()) return true;
    condition_->resuming_.store(true);
    rocksdb::Status s = db_->Resume();
    condition_->resuming_.store(false);
    if (!s.ok()) {
      condition_->stillBroken(s);
      return false;
    }
    condition_->recovered();
    return true;
  }

  // Start-up: every record of `cf` read with its checksums verified.
  bool verify(Cf cf, std::string* err) {
    return scan(cf, err, [](const rocksdb::Slice&, const rocksdb::Slice& v) {
      return !parseObject(v).is_null();
    });
  }

 private:
  // Walks a column family; `fn` returns false for a record it cannot decode.
  template <typename Fn>
  bool scan(Cf cf, std::string* err, Fn&& fn) {
    rocksdb::ReadOptions ro = verifying();
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[cf]));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (!fn(it->key(), it->value()))
        return readFailed(err, kCfNames[cf],
                          rocksdb::Status::Corruption("record '" + printable(it->key()) +
                                                      "' is not a JSON object"));
    if (!it->status().ok()) return readFailed(err, kCfNames[cf], it->status());
    return true;
  }
  bool get(Cf cf, const std::string& key, std::string& v, const char* what) {
    rocksdb::Status s = db_->Get(verifying(), cfs_[cf], key, &v);
    if (s.ok()) return true;
    if (!s.IsNotFound()) condition_->failed(what, s, false);
    return false;
  }
  bool readFailed(std::string* err, const char* cf, const rocksdb::Status& s) {
    const std::string what = std::string("reading column family ") + cf;
    condition_->failed(what.c_str(), s, false);
    if (err) *err = what + ": " + s.ToString();
    return false;
  }
  void corruptValue(const char* cf, const std::string& key) {
    const std::string what = std::string("decoding ") + cf + " record '" + printable(key) + "'";
    condition_->failed(what.c_str(), rocksdb::Status::Corruption("not a JSON object"), false);
  }
  static std::string printable(const rocksdb::Slice& k) {
    std::string out;
    for (std::size_t i = 0; i < k.size() && out.size() < 80; ++i) {
      const unsigned char c = static_cast<unsigned char>(k[i]);
      out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
    }
    return out;
  }
  // Audit keys sort in the order of the commits: a clock that steps back (or
  // two records in the same millisecond) never reorders them.
  void putAudit(rocksdb::WriteBatch& batch, AuditRecord a) {
    a.unixMs = std::max(a.unixMs, lastAuditMs_);
    lastAuditMs_ = a.unixMs;
    batch.Put(cfs_[kAudit], auditKey(a.unixMs, auditSeq_++), encodeAudit(a).dump());
  }
  bool writeSynced(rocksdb::WriteBatch& batch, const char* what, std::string* err) {
    rocksdb::WriteOptions synced;
    synced.sync = true;  // on disk before the API answers 200
    rocksdb::Status s = db_->Write(synced, &batch);
    if (s.ok()) return true;
    condition_->failed(what, s, true);
    if (err) *err = s.ToString();
    return false;
  }
  void check(const char* what, const rocksdb::Status& s) {
    if (!s.ok()) condition_->failed(what, s, true);  // health keeps working without persistence
  }
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // by Cf
  std::mutex adminMu_;
  std::uint64_t auditSeq_ = 0;    // guarded by adminMu_
  std::int64_t lastAuditMs_ = 0;  // guarded by adminMu_
  std::size_t limit_;
  rocksdb::WriteOptions wo_;  // WAL on (the default); no fsync per write
  std::unordered_map<std::string, std::size_t> next_;
  std::shared_ptr<Condition> condition_;
};

}  // namespace

std::unique_ptr<Store> openRocksStore(const std::string& path, std::size_t historyLimit,
                                      bool readOnly, std::string* err) {
  return openRocksStoreWithEnv(path, historyLimit, readOnly, nullptr, err);
}

std::unique_ptr<Store> openRocksStoreWithEnv(const std::string& path, std::size_t historyLimit,
                                             bool readOnly, rocksdb::Env* env, std::string* err) {
  auto condition = std::make_shared<Condition>();
  rocksdb::DBOptions opts;
  if (env) opts.env = env;
  opts.create_if_missing = true;
  opts.create_missing_column_families = true;
  opts.max_total_wal_size = 64 << 20;
  opts.paranoid_checks = true;  // the default, and relied on: corruption stops, never skips
  opts.info_log = std::make_shared<RocksLogger>();
  opts.listeners.push_back(std::make_shared<Listener>(condition));
  rocksdb::ColumnFamilyOptions cfo;
  cfo.OptimizeForPointLookup(8);
  // What start-up depends on: every table file written for it is read back.
  rocksdb::ColumnFamilyOptions checked;
  checked.paranoid_file_checks = true;
  rocksdb::ColumnFamilyOptions checkedPoint = cfo;
  checkedPoint.paranoid_file_checks = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, cfo},
                                                      {kCfNames[kHealth], cfo},
                                                      {kCfNames[kHistory], cfo},
                                                      {kCfNames[kFailover], checkedPoint},
                                                      {kCfNames[kAdmin], checked},
                                                      {kCfNames[kAudit], checked}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!readOnly) {
    // RocksDB creates it too, after logging an error for the missing directory.
    std::error_code ec;
    std::filesystem::create_directory(path, ec);
  }
  rocksdb::Status s = readOnly ? rocksdb::DB::OpenForReadOnly(opts, path, cfs, &handles, &db)
                               : rocksdb::DB::Open(opts, path, cfs, &handles, &db);
  if (!s.ok()) {
    *err = path + ": cannot open the health state database: " + s.ToString();
    return nullptr;
  }
  auto store = std::make_unique<RocksStore>(db, std::move(handles), historyLimit ? historyLimit : 1,
                                            condition);
  for (Cf cf : {kAdmin, kAudit, kFailover}) {
    std::string why;
    if (!store->verify(cf, &why)) {
      *err = path + ": the health state database is corrupt (" + why +
             "); not starting without the drains, failover state and audit it holds. Restore a "
             "backup, or move the directory aside to start with empty state";
      return nullptr;
    }
  }
  store->initAuditSeq();
  return store;
}

}  // namespace geodns::health
