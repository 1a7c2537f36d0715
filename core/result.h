#pragma once
// Errors with their place (file:line, or a JSON pointer), collected so that
// every problem in a config or zone is reported at once.
#include <string>
#include <utility>
#include <vector>

namespace geodns {

struct Error {
  std::string where;  // "zones/example.zone:42" or "geodnsd.json /zones/0/file"; may be empty
  std::string message;
  std::string str() const { return where.empty() ? message : where + ": " + message; }
};

class ErrorList {
 public:
  void add(std::string where, std::string message) {
    errors_.push_back({std::move(where), std::move(message)});
  }
  void append(const ErrorList& other) {
    errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
  }
  bool empty() const { return errors_.empty(); }
  std::size_t size() const { return errors_.size(); }
  const std::vector<Error>& all() const { return errors_; }
  std::string str() const {
    std::string out;
    for (const auto& e : errors_) out += e.str() + "\n";
    return out;
  }

 private:
  std::vector<Error> errors_;
};

}  // namespace geodns
