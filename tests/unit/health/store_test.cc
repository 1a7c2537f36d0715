// The RocksDB state store under failure: a full disk (injected through a
// FileSystem wrapper: no root, no tmpfs), corrupt table files, and the audit
// order. The integration suite test_state_disk does the full disk for real.
#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "health/rocks_store_testing.h"
#include "health/store.h"
#include "support/temp_dir.h"

using namespace geodns;
using namespace geodns::health;

namespace {

// Every write fails with ENOSPC while `full` is set, as on a full disk.
class FullDiskFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FullDiskFs(const std::shared_ptr<rocksdb::FileSystem>& base)
      : rocksdb::FileSystemWrapper(base) {}
  static const char* kClassName() { return "FullDiskFs"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    auto s = target()->NewWritableFile(f, o, r, d);
    if (s.ok()) *r = std::make_unique<File>(std::move(*r), full);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    auto s = target()->ReopenWritableFile(f, o, r, d);
    if (s.ok()) *r = std::make_unique<File>(std::move(*r), full);
    return s;
  }
  std::atomic<bool> full{false};

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, const std::atomic<bool>& full)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(f)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* d) override {
      if (full_) return rocksdb::IOStatus::NoSpace("No space left on device (injected)");
      return target()->Append(data, o, d);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v,
                             rocksdb::IODebugContext* d) override {
      if (full_) return rocksdb::IOStatus::NoSpace("No space left on device (injected)");
      return target()->Append(data, o, v, d);
    }
    rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t off,
                                       const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* d) override {
      if (full_) return rocksdb::IOStatus::NoSpace("No space left on device (injected)");
      return target()->PositionedAppend(data, off, o, d);
    }

   private:
    const std::atomic<bool>& full_;
  };
};

OverrideRecord drainOf(const std::string& region) {
  return {"region_drain:" + region, "region_drain", region, "maint", 0, 100, 0, "ops"};
}

AuditRecord auditOf(const std::string& action, const std::string& target, std::int64_t ms = 1000) {
  return {ms, action, target, "maint", "ops", ""};
}

std::vector<std::string> overrideKeys(Store& s) {
  std::vector<OverrideRecord> out;
  std::string err;
  REQUIRE_MESSAGE(s.allOverrides(out, &err), err);
  std::vector<std::string> keys;
  for (const auto& o : out) keys.push_back(o.key);
  return keys;
}

// The table files of one column family (raw RocksDB, read-only).
std::vector<std::string> tableFilesOf(const std::string& path, const std::string& cf) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.push_back({n, rocksdb::ColumnFamilyOptions()});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, cfs, &handles, &db).ok());
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  std::vector<std::string> out;
  for (const auto& f : files)
    if (f.column_family_name == cf) out.push_back(f.db_path + "/" + f.name);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return out;
}

// Flips bytes at the start of a table file: its first data block.
void corrupt(const std::string& file) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  for (std::streamoff at = 8; at < 40; ++at) {
    f.seekg(at);
    char c = 0;
    f.get(c);
    f.seekp(at);
    f.put(static_cast<char>(c ^ 0x5a));
  }
}

// A database whose records are in table files, not only in the WAL: the
// reopen flushes what the WAL holds.
void writeAndSettle(const std::string& path) {
  std::string err;
  {
    auto st = openRocksStore(path, 10, false, &err);
    REQUIRE_MESSAGE(st, err);
    REQUIRE(st->commitAdmin({drainOf("a")}, {}, {auditOf("drain_region", "a")}, &err));
    st->saveFailover({"fo", "b", 100, "forced", true});
    TargetRecord t;
    t.key = "tcp|127.0.0.1|80|";
    t.state = State::Down;
    t.updatedUnix = 100;
    st->saveTarget(t);
  }
  REQUIRE(openRocksStore(path, 10, false, &err));  // recovery writes the tables
}

}  // namespace

TEST_CASE("a full disk: writes refused and counted, reads served, resumed when space returns") {
  test::TempDir dir;
  const std::string path = (dir.path() / "state").string();
  auto fs = std::make_shared<FullDiskFs>(rocksdb::FileSystem::Default());
  auto env = rocksdb::NewCompositeEnv(fs);
  std::string err;
  {
    auto st = openRocksStoreWithEnv(path, 10, false, env.get(), &err);
    REQUIRE_MESSAGE(st, err);
    REQUIRE(st->commitAdmin({drainOf("a")}, {}, {auditOf("drain_region", "a")}, &err));
    CHECK(st->status().writable);
    CHECK(st->status().errors == 0);

    fs->full = true;
    err.clear();
    CHECK_FALSE(st->commitAdmin({drainOf("b")}, {}, {auditOf("drain_region", "b")}, &err));
    CHECK(err.find("No space") != std::string::npos);
    StoreStatus s = st->status();
    CHECK_FALSE(s.writable);
    CHECK(s.errors == 1);
    CHECK(s.error.find("No space") != std::string::npos);
    // Further writes of every kind are refused, never abort (RocksDB 7.8
    // asserts when a file writer that saw an error is used again).
    for (int i = 0; i < 5; ++i) {
      CHECK_FALSE(st->commitAdmin({}, {"region_drain:a"}, {auditOf("undrain_region", "a")}, &err));
      CHECK_FALSE(st->commitFailover({"fo", "b", 1, "x", true}, auditOf("failover", "fo"), &err));
      TargetRecord t;
      t.key = "k";
      st->saveTarget(t);
      st->appendHistory("k", {1, true, 1.0, ""});
    }
    CHECK(st->status().errors == 21);
    CHECK(overrideKeys(*st) == std::vector<std::string>{"region_drain:a"});  // reads work
    CHECK_FALSE(st->recover());                                              // still full
    CHECK_FALSE(st->status().writable);

    fs->full = false;
    CHECK(st->recover());
    CHECK(st->status().writable);
    CHECK(st->status().recoveries == 1);
    REQUIRE(st->commitAdmin({drainOf("c")}, {}, {auditOf("drain_region", "c")}, &err));

    // Full again, and closed while full: no sync of the failed WAL at close.
    fs->full = true;
    CHECK_FALSE(st->commitAdmin({drainOf("d")}, {}, {auditOf("drain_region", "d")}, &err));
  }
  fs->full = false;
  auto st = openRocksStore(path, 10, false, &err);
  REQUIRE_MESSAGE(st, err);
  CHECK(overrideKeys(*st) == std::vector<std::string>{"region_drain:a", "region_drain:c"});
  std::vector<AuditRecord> audit;
  REQUIRE(st->audit(10, audit, &err));
  REQUIRE(audit.size() == 2);
  CHECK(audit[1].target == "c");
}

TEST_CASE("a corrupt table of the admin, audit or failover column family stops the open") {
  struct Case {
    const char* cf;
  };
  for (const Case c : {Case{"admin"}, Case{"audit"}, Case{"failover"}}) {
    CAPTURE(c.cf);
    test::TempDir dir;
    const std::string path = (dir.path() / "state").string();
    writeAndSettle(path);
    const auto files = tableFilesOf(path, c.cf);
    REQUIRE(files.size() == 1);
    corrupt(files[0]);
    for (bool readOnly : {false, true}) {
      std::string err;
      CHECK_FALSE(openRocksStore(path, 10, readOnly, &err));
      CHECK(err.find("corrupt") != std::string::npos);
      CHECK(err.find("Corruption") != std::string::npos);  // RocksDB's reason
      CHECK(err.find(c.cf) != std::string::npos);
    }
  }
}

TEST_CASE("a corrupt health table is counted and read as absent, never as a silent empty list") {
  test::TempDir dir;
  const std::string path = (dir.path() / "state").string();
  writeAndSettle(path);
  const auto files = tableFilesOf(path, "health");
  REQUIRE(files.size() == 1);
  corrupt(files[0]);
  std::string err;
  auto st = openRocksStore(path, 10, false, &err);
  REQUIRE_MESSAGE(st, err);  // health state is not worth refusing to serve for
  CHECK_FALSE(st->loadTarget("tcp|127.0.0.1|80|"));
  CHECK(st->status().errors == 1);
  CHECK(st->status().writable);  // a read error: writes still work
  std::vector<TargetRecord> all;
  CHECK_FALSE(st->allTargets(all, &err));
  CHECK(err.find("Corruption") != std::string::npos);
  CHECK(st->status().errors == 2);
}

TEST_CASE("audit records keep the order of the commits when the clock steps back") {
  test::TempDir dir;
  const std::string path = (dir.path() / "state").string();
  std::string err;
  {
    auto st = openRocksStore(path, 10, false, &err);
    REQUIRE(st);
    REQUIRE(st->commitAdmin({}, {}, {auditOf("drain_region", "a", 5000)}, &err));
    REQUIRE(st->commitFailover({"fo", "b", 1, "x", true}, auditOf("failover", "fo", 4000), &err));
  }
  auto st = openRocksStore(path, 10, false, &err);  // ... and after a restart
  REQUIRE(st->commitAdmin({}, {}, {auditOf("undrain_region", "a", 3000)}, &err));
  std::vector<AuditRecord> audit;
  REQUIRE(st->audit(10, audit, &err));
  REQUIRE(audit.size() == 3);
  CHECK(audit[0].action == "drain_region");
  CHECK(audit[1].action == "failover");
  CHECK(audit[2].action == "undrain_region");
  CHECK(audit[1].unixMs == 5000);  // never earlier than the record before it
  CHECK(st->loadFailover("fo")->activeRegion == "b");
}

TEST_CASE("zone serials survive a restart, one record per zone, replaced by the next save") {
  // Key and value: "zone_serial:" + the origin's wire bytes in hex, {"serial", "hash"}. Cases:
  // each save is a list of records; what a reopened database gives is the latest per zone.
  struct Case {
    const char* name;
    std::vector<std::vector<ZoneSerialRecord>> saves;
    std::vector<ZoneSerialRecord> want;  // by origin
  };
  const std::string a = std::string("\1a\4test") + '\0', b = std::string("\1b\4test") + '\0';
  const std::string root(1, '\0');
  const std::vector<Case> cases{
      {"one zone", {{{a, 7, 0x0123456789abcdefull}}}, {{a, 7, 0x0123456789abcdefull}}},
      {"the next save replaces it, another zone stays",
       {{{a, 7, 1}, {b, 9, 2}}, {{a, 8, 0xffffffffffffffffull}}},
       {{a, 8, 0xffffffffffffffffull}, {b, 9, 2}}},
      {"the root zone and the largest serial",
       {{{root, 4294967295u, 0}}},
       {{root, 4294967295u, 0}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    test::TempDir dir;
    const std::string path = (dir.path() / "state").string();
    std::string err;
    for (const auto& save : c.saves) {
      auto st = openRocksStore(path, 10, false, &err);
      REQUIRE(st);
      REQUIRE(st->saveZoneSerials(save, &err));
    }
    auto st = openRocksStore(path, 10, true, &err);  // read-only, as at start-up
    REQUIRE(st);
    std::vector<ZoneSerialRecord> got;
    REQUIRE(st->zoneSerials(got, &err));
    std::sort(got.begin(), got.end(),
              [](const auto& x, const auto& y) { return x.origin < y.origin; });
    REQUIRE(got.size() == c.want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].origin == c.want[i].origin);
      CHECK(got[i].serial == c.want[i].serial);
      CHECK(got[i].contentHash == c.want[i].contentHash);
    }
  }
}

TEST_CASE("a zone serial record that does not decode fails the read, not the start") {
  test::TempDir dir;
  const std::string path = (dir.path() / "state").string();
  std::string err;
  {
    auto st = openRocksStore(path, 10, false, &err);
    REQUIRE(st);
    REQUIRE(st->saveZoneSerials({{std::string("\1a") + '\0', 3, 4}}, &err));
  }
  {
    // Another writer's bad value under the same prefix (the default column family).
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(o, path, &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    REQUIRE(rocksdb::DB::Open(o, path, cfs, &handles, &raw).ok());
    REQUIRE(raw->Put(rocksdb::WriteOptions(), "zone_serial:zz", "{\"serial\": -1}").ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto st = openRocksStore(path, 10, false, &err);
  REQUIRE(st);  // the store opens: only this read fails
  std::vector<ZoneSerialRecord> got;
  CHECK_FALSE(st->zoneSerials(got, &err));
  CHECK(err.find("zone_serial:zz") != std::string::npos);
}
