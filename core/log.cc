#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace geodns::log {
namespace {
std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::atomic<int> gFormat{static_cast<int>(Format::Logfmt)};
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

void escape(const char* in, char* out, std::size_t cap) noexcept {
  std::size_t o = 0;
  for (const char* p = in; *p && o + 7 < cap; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = static_cast<char>(c);
    } else if (c == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if (c < 0x20) {
      o += static_cast<std::size_t>(std::snprintf(out + o, cap - o, "\\u%04x", c));
    } else {
      out[o++] = static_cast<char>(c);
    }
  }
  out[o] = '\0';
}

void setLevel(Level level) noexcept {
  gLevel.store(static_cast<int>(level));
}

void setFormat(Format format) noexcept {
  gFormat.store(static_cast<int>(format));
}

Format format() noexcept {
  return static_cast<Format>(gFormat.load(std::memory_order_relaxed));
}

bool parseLevel(const char* text, Level& out) noexcept {
  for (Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error})
    if (std::strcmp(text, name(l)) == 0) {
      out = l;
      return true;
    }
  return false;
}

bool parseFormat(const char* text, Format& out) noexcept {
  if (std::strcmp(text, "logfmt") == 0) {
    out = Format::Logfmt;
    return true;
  }
  if (std::strcmp(text, "json") == 0) {
    out = Format::Json;
    return true;
  }
  return false;
}

bool enabled(Level level) noexcept {
  return static_cast<int>(level) >= gLevel.load(std::memory_order_relaxed);
}

void formatTime(std::int64_t unixMs, char* out, std::size_t cap) noexcept {
  const std::time_t sec = static_cast<std::time_t>(unixMs / 1000);
  std::tm tm{};
  gmtime_r(&sec, &tm);
  char base[32];
  std::strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out, cap, "%s.%03lldZ", base, static_cast<long long>(unixMs % 1000));
}

void timestamp(char* out, std::size_t cap) noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  formatTime(static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000, out, cap);
}

void vwrite(Level level, const char* fmt, va_list ap) noexcept {
  if (!enabled(level)) return;
  char msg[2048];
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  char esc[4096];
  escape(msg, esc, sizeof esc);
  char ts[40];
  timestamp(ts, sizeof ts);
  std::lock_guard lock(gMu);
  if (format() == Format::Json)
    std::fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, name(level), esc);
  else
    std::fprintf(stderr, "ts=%s level=%s msg=\"%s\"\n", ts, name(level), esc);
  std::fflush(stderr);
}

void write(Level level, const char* fmt, ...) noexcept {
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, fmt, ap);
  va_end(ap);
}

void writeLimited(RateLimit& rl, Level level, const char* fmt, ...) noexcept {
  if (!enabled(level)) return;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  const std::int64_t window = ts.tv_sec / RateLimit::kWindowSec;
  std::int64_t seen = rl.window.load(std::memory_order_relaxed);
  if (seen != window && rl.window.compare_exchange_strong(seen, window)) {
    const std::uint64_t dropped = rl.suppressed.exchange(0);
    rl.count.store(0);
    if (dropped)
      write(level, "(%llu similar message(s) suppressed)",
            static_cast<unsigned long long>(dropped));
  }
  if (rl.count.fetch_add(1) >= RateLimit::kPerWindow) {
    rl.suppressed.fetch_add(1);
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, fmt, ap);
  va_end(ap);
}

}  // namespace geodns::log
