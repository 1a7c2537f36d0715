#include "health/cluster/kv_store.h"

namespace geodns::health::cluster {

const char* errcName(KvErrc code) noexcept {
  switch (code) {
    case KvErrc::Unavailable:
      return "unavailable";
    case KvErrc::Compacted:
      return "compacted";
    case KvErrc::FutureRevision:
      return "future_revision";
    case KvErrc::Canceled:
      return "canceled";
    case KvErrc::Unauthenticated:
      return "unauthenticated";
    case KvErrc::PermissionDenied:
      return "permission_denied";
    case KvErrc::NotFound:
      return "not_found";
    case KvErrc::InvalidArgument:
      return "invalid_argument";
    case KvErrc::Protocol:
      return "protocol";
  }
  return "unknown";
}

std::string KvError::str() const {
  std::string s = std::string(errcName(code)) + ": " + message;
  if (code == KvErrc::Compacted && compactRevision > 0)
    s += " (compacted at " + std::to_string(compactRevision) + ")";
  if (maybeApplied) s += " (the write may have been applied)";
  return s;
}

std::string prefixEnd(std::string_view prefix) {
  // etcd's GetPrefixRangeEnd: increment the last byte that is not 0xff and
  // cut after it; a prefix of only 0xff bytes (or an empty one) has no end.
  std::string end(prefix);
  while (!end.empty()) {
    const auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace geodns::health::cluster
