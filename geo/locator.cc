#include "geo/locator.h"

#include <filesystem>

namespace geodns::geo {

std::shared_ptr<Locator> Locator::open(const std::vector<DatabaseSpec>& databases,
                                       const DatabaseSpec* asn, ErrorList& errors,
                                       std::vector<std::string>* skipped) {
  auto loc = std::make_shared<Locator>();
  const std::size_t before = errors.size();
  auto openOne = [&](const DatabaseSpec& spec) -> std::unique_ptr<Database> {
    if (spec.optional && !std::filesystem::exists(spec.file)) {
      if (skipped) skipped->push_back(spec.file);
      return nullptr;
    }
    std::string err;
    auto db = Database::open(spec, &err);
    if (!db) errors.add("", err);
    return db;
  };
  for (const auto& spec : databases)
    if (auto db = openOne(spec)) loc->dbs_.push_back(std::move(db));
  if (asn) loc->asn_ = openOne(*asn);
  if (errors.size() != before) return nullptr;
  return loc;
}

bool Locator::locate(const IpAddress& input, Location& loc) const noexcept {
  loc = Location{};
  const IpAddress ip = input.isV4Mapped() ? input.v4FromMapped() : input;
  auto net = nets_.lookup(ip);
  if (net.entry >= 0) {
    loc.found = true;
    loc.netEntry = net.entry;
    loc.prefix = net.stable;
    return true;
  }
  // A miss holds over a block: `stable` bits for the map, the unmatched
  // network for each database consulted. Whatever answers holds over the
  // longest of those blocks and its own network.
  std::uint8_t floor = net.stable;
  for (std::size_t i = 0; i < dbs_.size(); ++i) {
    Location l;
    auto r = dbs_[i]->lookup(ip, l);
    if (r == Database::Result::WrongFamily || r == Database::Result::Error) continue;
    if (r == Database::Result::Found) {
      l.found = true;
      l.database = static_cast<std::int16_t>(i);
      if (l.prefix < floor) l.prefix = floor;
      loc = l;
      if (asn_) {
        Location a;
        if (asn_->lookup(ip, a) == Database::Result::Found) loc.asn = a.asn;
      }
      return true;
    }
    if (l.prefix > floor) floor = l.prefix;
  }
  loc.prefix = floor;
  return false;
}

}  // namespace geodns::geo
