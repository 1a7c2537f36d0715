#pragma once
// CurlProbeTransport: HTTP/HTTPS and TCP-connect probes on libcurl's multi
// interface, plus DNS probes over UDP sockets on the same poll; one thread,
// non-blocking, thousands of targets. The only file that includes curl.
#include <memory>
#include <string>
#include <vector>

#include "health/scheduler.h"

namespace geodns::health {

class CurlProbeTransport final : public ProbeTransport {
 public:
  CurlProbeTransport();  // on the system's monotonic clock
  // Probe times and timeouts are read from `clock`, which must outlive this.
  explicit CurlProbeTransport(const Clock& clock);
  ~CurlProbeTransport() override;
  CurlProbeTransport(const CurlProbeTransport&) = delete;
  CurlProbeTransport& operator=(const CurlProbeTransport&) = delete;

  void start(TargetId id, const ProbeSpec& spec) override;
  void collect(std::vector<ProbeResult>& out, Duration maxWait) override;
  void wakeup() noexcept override;  // curl_multi_wakeup: any thread
  std::size_t running() const noexcept;
  // The User-Agent of HTTP(S) probes (default "geodnsd-probe/0.1"); a fleet
  // node adds its name so a backend's logs show which vantage asked. Call
  // before the first probe.
  void setUserAgent(std::string userAgent);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace geodns::health
