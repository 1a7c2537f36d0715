#pragma once
// Leveled, structured logging to stderr: one line per event, logfmt
// (ts=… level=… msg="…") or JSON ({"ts":…,"level":…,"msg":…}), chosen at
// start-up. Control plane and error paths only; never per packet. Messages
// on paths that can repeat under trouble go through GEODNS_LOG_LIMITED.
#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdint>

namespace geodns::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class Format { Logfmt, Json };

void setLevel(Level level) noexcept;
void setFormat(Format format) noexcept;
Format format() noexcept;
bool parseLevel(const char* text, Level& out) noexcept;
bool parseFormat(const char* text, Format& out) noexcept;
bool enabled(Level level) noexcept;
// "2026-11-26T21:40:34.123Z": now, or a given Unix time in milliseconds.
void timestamp(char* out, std::size_t cap) noexcept;
void formatTime(std::int64_t unixMs, char* out, std::size_t cap) noexcept;
// Escapes `in` for a double-quoted logfmt or JSON string (quotes, backslashes,
// control characters); truncates to fit `cap`.
void escape(const char* in, char* out, std::size_t cap) noexcept;
void write(Level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// At most kPerWindow lines per call site every kWindowSec seconds; the count
// of suppressed lines is logged when the next window opens.
struct RateLimit {
  static constexpr int kWindowSec = 10;
  static constexpr std::uint32_t kPerWindow = 5;
  std::atomic<std::int64_t> window{0};
  std::atomic<std::uint32_t> count{0};
  std::atomic<std::uint64_t> suppressed{0};
};
void writeLimited(RateLimit& rl, Level level, const char* fmt, ...) noexcept
    __attribute__((format(printf, 3, 4)));

}  // namespace geodns::log

#define GEODNS_LOG_INFO(...) ::geodns::log::write(::geodns::log::Level::Info, __VA_ARGS__)
#define GEODNS_LOG_WARN(...) ::geodns::log::write(::geodns::log::Level::Warn, __VA_ARGS__)
#define GEODNS_LOG_ERROR(...) ::geodns::log::write(::geodns::log::Level::Error, __VA_ARGS__)
#define GEODNS_LOG_DEBUG(...) ::geodns::log::write(::geodns::log::Level::Debug, __VA_ARGS__)
// Rate-limited per call site (a static RateLimit each).
#define GEODNS_LOG_LIMITED(level, ...)                                                      \
  do {                                                                                      \
    static ::geodns::log::RateLimit geodnsLogLimit_;                                        \
    ::geodns::log::writeLimited(geodnsLogLimit_, ::geodns::log::Level::level, __VA_ARGS__); \
  } while (0)
