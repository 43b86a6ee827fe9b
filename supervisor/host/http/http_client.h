// The one HTTP client the host services use (libcurl underneath). The egress proxy and the AI
// proxy decide what may be fetched; this only performs a request exactly as described: no
// redirects followed, no proxy from the environment, no cookies, http/https only, the
// connection pinned to the addresses in `pinned` when given.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "plugvisor/common/host_error.h"

namespace plugvisor::host {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // the whole transfer
  size_t max_response_bytes = 8u << 20;      // body; past it: resource_exhausted
  // CURLOPT_RESOLVE entries ("host:port:addr[,addr]"): the connection may only go to these
  // already-checked addresses, so a second DNS answer cannot redirect it (DNS rebinding).
  std::vector<std::string> pinned;
};

struct HttpResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased, in arrival order
  std::string body;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Transport failures are unavailable (or deadline_exceeded on a timeout) with curl's reason;
  // any HTTP status, 4xx/5xx included, is a response.
  virtual hostcall::HostResult<HttpResponse> perform(const HttpRequest& request) = 0;
};

// Thread-safe: each perform() uses its own easy handle.
std::unique_ptr<HttpClient> make_curl_client();

}  // namespace plugvisor::host
