// RocksDB behind health::Store; the only file that includes RocksDB.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/log.h"
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

class RocksStore final : public Store {
 public:
  RocksStore(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> cfs, std::size_t limit)
      : db_(db), cfs_(std::move(cfs)), limit_(limit) {}
  ~RocksStore() override {
    db_->FlushWAL(true);  // shutdown: everything written is on disk
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close();
    delete db_;
  }
  void saveTarget(const TargetRecord& r) override {
    check(db_->Put(wo_, cfs_[1], r.key, encode(r)));
  }
  void appendHistory(const std::string& key, const HistoryEntry& e) override {
    // A ring of `limit` slots per target keeps the history bounded.
    auto& n = next_[key];
    const std::string k = key + '\0' + std::to_string(n);
    n = (n + 1) % limit_;
    check(db_->Put(
        wo_, cfs_[2], k,
        json{{"t", e.unixMs}, {"ok", e.ok}, {"ms", e.totalMs}, {"error", e.error}}.dump()));
  }
  std::optional<TargetRecord> loadTarget(const std::string& key) override {
    std::string v;
    if (!db_->Get(rocksdb::ReadOptions(), cfs_[1], key, &v).ok()) return std::nullopt;
    return decode(key, v);
  }
  std::vector<TargetRecord> allTargets() override {
    std::vector<TargetRecord> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[1]));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (auto r = decode(it->key().ToString(), it->value().ToString())) out.push_back(*r);
    return out;
  }
  void saveFailover(const FailoverRecord& r) override {
    check(db_->Put(wo_, cfs_[3], r.pool,
                   json{{"active", r.activeRegion},
                        {"since", r.sinceUnix},
                        {"reason", r.reason},
                        {"forced", r.forced}}
                       .dump()));
  }
  std::optional<FailoverRecord> loadFailover(const std::string& pool) override {
    std::string v;
    if (!db_->Get(rocksdb::ReadOptions(), cfs_[3], pool, &v).ok()) return std::nullopt;
    auto j = json::parse(v, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return FailoverRecord{pool, j.value("active", std::string()), j.value("since", std::int64_t{0}),
                          j.value("reason", std::string()), j.value("forced", false)};
  }
  bool commitAdmin(const std::vector<OverrideRecord>& puts, const std::vector<std::string>& deletes,
                   const std::vector<AuditRecord>& audit, std::string* err) override {
    std::lock_guard lock(adminMu_);  // any thread; keeps the audit sequence unique
    rocksdb::WriteBatch batch;
    for (const auto& k : deletes) batch.Delete(cfs_[4], k);
    for (const auto& r : puts) batch.Put(cfs_[4], r.key, encodeOverride(r).dump());
    for (const auto& a : audit)
      batch.Put(cfs_[5], auditKey(a.unixMs, auditSeq_++), encodeAudit(a).dump());
    rocksdb::WriteOptions synced;
    synced.sync = true;  // on disk before the API answers 200
    rocksdb::Status s = db_->Write(synced, &batch);
    if (!s.ok() && err) *err = s.ToString();
    return s.ok();
  }
  std::vector<OverrideRecord> allOverrides() override {
    std::vector<OverrideRecord> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[4]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto j = json::parse(it->value().ToString(), nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      OverrideRecord r;
      r.key = it->key().ToString();
      r.kind = j.value("kind", std::string());
      r.target = j.value("target", std::string());
      r.reason = j.value("reason", std::string());
      r.value = j.value("value", 0.0);
      r.createdUnix = j.value("created", std::int64_t{0});
      r.expiresUnix = j.value("expires", std::int64_t{0});
      r.identity = j.value("identity", std::string());
      out.push_back(std::move(r));
    }
    return out;
  }
  std::vector<AuditRecord> audit(std::size_t limit) override {
    std::vector<AuditRecord> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[5]));
    for (it->SeekToLast(); it->Valid() && out.size() < limit; it->Prev()) {
      auto j = json::parse(it->value().ToString(), nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      out.push_back({j.value("t", std::int64_t{0}), j.value("action", std::string()),
                     j.value("target", std::string()), j.value("reason", std::string()),
                     j.value("identity", std::string()), j.value("detail", std::string())});
    }
    std::reverse(out.begin(), out.end());
    return out;
  }
  // Continues the audit sequence after the newest stored record.
  void initAuditSeq() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[5]));
    it->SeekToLast();
    if (it->Valid() && it->key().size() == 16) {
      std::uint64_t seq = 0;
      for (int i = 0; i < 8; ++i)
        seq = (seq << 8) | static_cast<unsigned char>(it->key()[static_cast<std::size_t>(8 + i)]);
      auditSeq_ = seq + 1;
    }
  }
  std::vector<HistoryEntry> history(const std::string& key) override {
    std::vector<HistoryEntry> out;
    const std::string prefix = key + '\0';
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[2]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto j = json::parse(it->value().ToString(), nullptr, false);
      if (j.is_discarded()) continue;
      out.push_back({j.value("t", std::int64_t{0}), j.value("ok", false), j.value("ms", 0.0),
                     j.value("error", std::string())});
    }
    std::sort(out.begin(), out.end(),
              [](const HistoryEntry& a, const HistoryEntry& b) { return a.unixMs < b.unixMs; });
    return out;
  }

 private:
  void check(const rocksdb::Status& s) {
    if (!s.ok() && !warned_) {  // logged once: health keeps working without persistence
      GEODNS_LOG_ERROR("health store write failed: %s", s.ToString().c_str());
      warned_ = true;
    }
  }
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*>
      cfs_;  // default, health, history, failover, admin, audit
  std::mutex adminMu_;
  std::uint64_t auditSeq_ = 0;
  std::size_t limit_;
  rocksdb::WriteOptions wo_;  // WAL on (the default); no fsync per write
  std::unordered_map<std::string, std::size_t> next_;
  bool warned_ = false;
};

}  // namespace

std::unique_ptr<Store> openRocksStore(const std::string& path, std::size_t historyLimit,
                                      bool readOnly, std::string* err) {
  rocksdb::DBOptions opts;
  opts.create_if_missing = true;
  opts.create_missing_column_families = true;
  opts.keep_log_file_num = 3;
  opts.max_total_wal_size = 64 << 20;
  opts.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::ColumnFamilyOptions cfo;
  cfo.OptimizeForPointLookup(8);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, cfo},
                                                      {"health", cfo},
                                                      {"history", cfo},
                                                      {"failover", cfo},
                                                      {"admin", rocksdb::ColumnFamilyOptions()},
                                                      {"audit", rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = readOnly ? rocksdb::DB::OpenForReadOnly(opts, path, cfs, &handles, &db)
                               : rocksdb::DB::Open(opts, path, cfs, &handles, &db);
  if (!s.ok()) {
    *err = path + ": cannot open the health state database: " + s.ToString();
    return nullptr;
  }
  auto store =
      std::make_unique<RocksStore>(db, std::move(handles), historyLimit ? historyLimit : 1);
  store->initAuditSeq();
  return store;
}

}  // namespace geodns::health
