#pragma once
// `geodnsd explain`: what the server would answer for a name, type and
// client, and why (location, region order per step, chosen members, TTL,
// ECS scope). Control plane only.
#include <string>

#include "core/ip.h"
#include "server/serving.h"

namespace geodns::server {

struct ExplainRequest {
  std::string name;
  std::string type = "A";
  IpPrefix client;           // address and prefix
  bool clientIsEcs = false;  // given as IP/PREFIX: sent as ECS from `resolver`
  IpAddress resolver;
  bool json = false;
};

// Returns the report; `ok` false with the report holding the error.
std::string explain(const ServingSnapshot& snap, const ExplainRequest& req, bool& ok);

}  // namespace geodns::server
