#pragma once
// Minimal leveled logging to stderr (control plane only; never per packet).
#include <cstdarg>

namespace geodns::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLevel(Level level) noexcept;
bool parseLevel(const char* text, Level& out) noexcept;
void write(Level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace geodns::log

#define GEODNS_LOG_INFO(...) ::geodns::log::write(::geodns::log::Level::Info, __VA_ARGS__)
#define GEODNS_LOG_WARN(...) ::geodns::log::write(::geodns::log::Level::Warn, __VA_ARGS__)
#define GEODNS_LOG_ERROR(...) ::geodns::log::write(::geodns::log::Level::Error, __VA_ARGS__)
#define GEODNS_LOG_DEBUG(...) ::geodns::log::write(::geodns::log::Level::Debug, __VA_ARGS__)
