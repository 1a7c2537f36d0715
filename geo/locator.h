#pragma once
// Locator: client address -> Location. Operator CIDR maps first (they override
// the databases), then the databases in order; the first that holds a record
// for the address answers. noexcept and allocation-free per lookup.
#include <memory>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/result.h"
#include "geo/cidr_map.h"
#include "geo/database.h"
#include "geo/location.h"

namespace geodns::geo {

class Locator {
 public:
  // Opens every database (errors for missing or corrupt files, except
  // optional ones, which are skipped and listed in `skipped`).
  static std::shared_ptr<Locator> open(const std::vector<DatabaseSpec>& databases,
                                       const DatabaseSpec* asn, ErrorList& errors,
                                       std::vector<std::string>* skipped = nullptr);

  // Control thread, before the Locator is published.
  bool addNet(const IpPrefix& prefix, std::int32_t entry) { return nets_.add(prefix, entry); }

  // `ip` may be IPv4-mapped IPv6; it is looked up as IPv4 and the prefix is
  // reported in IPv4 bits (see Location::prefix). Returns loc.found.
  bool locate(const IpAddress& ip, Location& loc) const noexcept;

  const std::vector<std::unique_ptr<Database>>& databases() const noexcept { return dbs_; }
  const CidrMap& nets() const noexcept { return nets_; }
  const Database* asnDatabase() const noexcept { return asn_.get(); }

 private:
  std::vector<std::unique_ptr<Database>> dbs_;
  std::unique_ptr<Database> asn_;
  CidrMap nets_;
};

}  // namespace geodns::geo
