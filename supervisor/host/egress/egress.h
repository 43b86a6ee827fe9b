// host.v1 Fetch: HTTP egress for plugins, which have no network of their own. Checks the URL
// against the plugin's network rules, resolves the name itself within the fetch's timeout and
// checks every address (pinning the connection to them), fills {{secret:NAME}} header
// references, enforces size caps and timeouts both ways, re-checks every redirect, and scrubs
// secret values from what goes back.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "config/config.h"
#include "host/egress/resolver.h"
#include "host/egress/secrets.h"
#include "host/http/http_client.h"

namespace plugvisor::host {

struct FetchCall {
  std::string method;
  std::string url;
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // 0: the default
};

struct FetchResult {
  long status = 0;
  HeaderList headers;
  std::string body;
  std::string final_url;
  uint32_t redirects = 0;
};

class Egress {
 public:
  Egress(HttpClient& http, const SecretVault& secrets, config::FetchLimits limits,
         Resolver resolver = Resolver())
      : http_(http), secrets_(secrets), limits_(limits), resolver_(std::move(resolver)) {}

  // `deadline` is the invocation's; the call never runs past it.
  hostcall::HostResult<FetchResult> fetch(const config::Permissions& permissions,
                                          const FetchCall& call,
                                          std::chrono::steady_clock::time_point deadline) const;

 private:
  HttpClient& http_;
  const SecretVault& secrets_;
  config::FetchLimits limits_;
  Resolver resolver_;
};

}  // namespace plugvisor::host
