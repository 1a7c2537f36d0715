#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace geodns::log {
namespace {
std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::mutex gMu;
const char* name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "?";
}
}  // namespace

void setLevel(Level level) noexcept {
  gLevel.store(static_cast<int>(level));
}

bool parseLevel(const char* text, Level& out) noexcept {
  for (Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error})
    if (std::strcmp(text, name(l)) == 0) {
      out = l;
      return true;
    }
  return false;
}

void write(Level level, const char* fmt, ...) noexcept {
  if (static_cast<int>(level) < gLevel.load(std::memory_order_relaxed)) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::lock_guard lock(gMu);
  std::fprintf(stderr, "%s level=%s msg=\"%s\"\n", ts, name(level), msg);
  std::fflush(stderr);
}

}  // namespace geodns::log
