#pragma once
// Test seam: openRocksStore() over a caller's rocksdb::Env, so unit tests can
// inject I/O failures (a full disk) without root or a real small filesystem.
// Production code calls openRocksStore() (health/store.h).
#include <memory>
#include <string>

#include "health/store.h"

namespace rocksdb {
class Env;
}

namespace geodns::health {

std::unique_ptr<Store> openRocksStoreWithEnv(const std::string& path, std::size_t historyLimit,
                                             bool readOnly, rocksdb::Env* env, std::string* err);

}  // namespace geodns::health
