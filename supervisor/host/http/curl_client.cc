// libcurl behind HttpClient. Every option that could make curl go somewhere the caller did not
// check is pinned off: redirects, proxies from the environment, netrc, cookies, protocols other
// than http/https, and DNS (the caller's CURLOPT_RESOLVE entries).
#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "host/http/http_client.h"

namespace plugvisor::host {

namespace {

// Response headers past this are refused: the body cap alone would let a server stream
// unbounded headers into memory.
constexpr size_t kMaxHeaderBytes = 256 << 10;

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// curl_slist_append returns the new head, or null leaving the old list intact.
bool append(Slist& list, const std::string& item) {
  curl_slist* head = curl_slist_append(list.get(), item.c_str());
  if (head == nullptr) return false;
  list.release();
  list.reset(head);
  return true;
}

bool init_curl() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  return rc == CURLE_OK;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

struct Transfer {
  size_t max_body = 0;
  std::string body;
  HeaderList headers;
  size_t header_bytes = 0;
  bool body_too_large = false;
  bool headers_too_large = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->body.size() + len > t->max_body) {
    t->body_too_large = true;
    return 0;  // anything but len aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > kMaxHeaderBytes) {
    t->headers_too_large = true;
    return 0;
  }
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new status line: headers of an interim (1xx) response are not the final response's.
    t->headers.clear();
    return len;
  }
  if (line.empty()) return len;
  if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
    const size_t text = line.find_first_not_of(" \t");
    if (!t->headers.empty() && text != std::string_view::npos) {
      t->headers.back().second += ' ';
      t->headers.back().second += line.substr(text);
    }
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name;
  for (char c : line.substr(0, colon)) name.push_back(lower(c));
  std::string_view value = line.substr(colon + 1);
  const size_t first = value.find_first_not_of(" \t");
  value = first == std::string_view::npos ? std::string_view{} : value.substr(first);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  t->headers.emplace_back(std::move(name), std::string(value));
  return len;
}

bool has_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(),
                                              [](char a, char b) { return lower(a) == b; })) {
      return true;
    }
  }
  return false;
}

class CurlClient final : public HttpClient {
 public:
  hostcall::HostResult<HttpResponse> perform(const HttpRequest& request) override;
};

hostcall::HostResult<HttpResponse> CurlClient::perform(const HttpRequest& request) {
  if (request.timeout.count() <= 0) {
    // CURLOPT_TIMEOUT_MS 0 would mean "no timeout at all".
    return hostcall::deadline("no time left for " + request.method + " " + request.url);
  }
  if (!init_curl()) return hostcall::internal("curl_global_init failed");
  EasyHandle easy(curl_easy_init());
  if (!easy) return hostcall::internal("curl_easy_init failed");
  CURL* h = easy.get();

  Slist headers;
  for (const auto& [name, value] : request.headers) {
    // A line break would start a header of the caller's choosing; a NUL would cut the value.
    if ((name + value).find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
        name.find(':') != std::string::npos) {
      return hostcall::invalid("header " + name + " contains CR, LF or NUL, or ':' in its name");
    }
    // "Name;" is curl's way to send a header with an empty value ("Name:" would remove it).
    if (!append(headers, value.empty() ? name + ";" : name + ": " + value)) {
      return hostcall::internal("out of memory building headers");
    }
  }
  // curl waits up to a second for "100 Continue" on larger bodies; no server we talk to needs it.
  bool ok = append(headers, "Expect:");
  const bool has_body = request.method == "POST" || request.method == "PUT" ||
                        request.method == "PATCH" || !request.body.empty();
  // Otherwise curl labels every body application/x-www-form-urlencoded.
  if (has_body && !has_header(request.headers, "content-type"))
    ok = ok && append(headers, "Content-Type:");
  if (!ok) return hostcall::internal("out of memory building headers");

  Transfer transfer;
  transfer.max_body = request.max_response_bytes;
  Slist resolve;
  for (const std::string& entry : request.pinned) {
    if (!append(resolve, entry)) return hostcall::internal("out of memory building resolve list");
  }
  char error[CURL_ERROR_SIZE] = {0};

  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption opt, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, value);
  };
  set(CURLOPT_ERRORBUFFER, error);
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_MAXREDIRS, 0L);
  // Both: PROXY "" ignores http_proxy & co., NOPROXY "*" covers a proxy set any other way.
  set(CURLOPT_PROXY, "");
  set(CURLOPT_NOPROXY, "*");
  set(CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_response_bytes));
  set(CURLOPT_WRITEFUNCTION, &on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&transfer));
  set(CURLOPT_HTTPHEADER, headers.get());
  if (resolve) set(CURLOPT_RESOLVE, resolve.get());
  if (request.method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET" && !has_body) {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (has_body && request.method != "HEAD") {
    // POSTFIELDS with an explicit size: the body may hold NULs, and an empty PUT still gets
    // "Content-Length: 0", which some servers insist on.
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    set(CURLOPT_POSTFIELDS, request.body.data());
  }
  if (rc != CURLE_OK) {
    return hostcall::internal(std::string("curl option rejected: ") + curl_easy_strerror(rc));
  }

  rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    const std::string reason = error[0] != '\0' ? error : curl_easy_strerror(rc);
    if (transfer.body_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return hostcall::exhausted("response body exceeds the " +
                                 std::to_string(request.max_response_bytes) + "-byte cap");
    }
    if (transfer.headers_too_large) {
      return hostcall::exhausted("response headers exceed " + std::to_string(kMaxHeaderBytes) +
                                 " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return hostcall::deadline("request timed out after " +
                                std::to_string(request.timeout.count()) + " ms: " + reason);
    }
    return hostcall::unavailable(request.method + " " + request.url + " failed: " + reason);
  }
  HttpResponse response;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  response.headers = std::move(transfer.headers);
  response.body = std::move(transfer.body);
  return response;
}

}  // namespace

std::unique_ptr<HttpClient> make_curl_client() { return std::make_unique<CurlClient>(); }

}  // namespace plugvisor::host
