#include "host/egress/egress.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string_view>

#include "plugvisor/common/egress_rules.h"

namespace plugvisor::host {

namespace {

using hostcall::HostError;
using hostcall::HostResult;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::array<std::string_view, 6> kMethods = {"GET", "HEAD",  "POST",
                                                      "PUT", "PATCH", "DELETE"};
constexpr size_t kMaxHeaderBytes = 64 << 10;  // all request headers together, after filling

struct OutHeader {
  std::string name;
  std::string value;
  bool secret = false;  // the value had a {{secret:...}} reference filled in
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

bool token_char(char c) {  // RFC 9110 tchar
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Headers that describe the connection or the framing, which the host owns: letting a plugin
// set them would allow request smuggling or a request to the proxy instead of the target.
bool host_owned(const std::string& lname) {
  static constexpr std::array<std::string_view, 9> kOwned = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive",
      "te",   "trailer",        "upgrade",           "expect"};
  return lname.starts_with("proxy-") ||
         std::find(kOwned.begin(), kOwned.end(), lname) != kOwned.end();
}

HostResult<std::vector<OutHeader>> prepare_headers(const HeaderList& headers,
                                                   const SecretVault& vault,
                                                   const std::vector<std::string>& allowed) {
  std::vector<OutHeader> out;
  size_t total = 0;
  for (const auto& [name, value] : headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), token_char)) {
      return hostcall::invalid("header name '" + name + "' is not a valid HTTP token");
    }
    if (host_owned(lower(name))) {
      return hostcall::invalid("header " + name + " is set by the host and may not be sent");
    }
    const bool has_ref = value.find("{{secret:") != std::string::npos;
    auto filled = has_ref ? vault.fill(value, allowed) : HostResult<std::string>(value);
    if (!filled) {
      HostError e = filled.error();
      e.message = "header " + name + ": " + e.message;
      return e;
    }
    // Checked after filling: a secret holding a line break must not split the header.
    if (filled->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return hostcall::invalid("header " + name + " contains CR, LF or NUL" +
                               (has_ref ? " (after filling its secret)" : ""));
    }
    total += name.size() + filled->size() + 4;
    if (total > kMaxHeaderBytes) {
      return hostcall::exhausted("request headers exceed " + std::to_string(kMaxHeaderBytes) +
                                 " bytes");
    }
    out.push_back({name, std::move(*filled), has_ref});
  }
  return out;
}

std::string origin_of(const egress::Target& t) {
  return t.scheme + "://" + (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) +
         ":" + std::to_string(t.port);
}

// Resolves the name here rather than in curl, checks every answer, and returns the
// CURLOPT_RESOLVE entry that confines the connection to exactly these answers. One forbidden
// answer refuses the whole request: a name that resolves to both a public and a private
// address is a DNS-rebinding attempt, and curl may pick either. The lookup gives up at
// `deadline`, the same end curl's timeout is computed from.
HostResult<std::vector<std::string>> resolve_checked(const Resolver& resolver,
                                                     const egress::NetworkRule& rule,
                                                     const egress::Target& target,
                                                     steady_clock::time_point deadline) {
  auto answers = resolver.resolve(target.host, target.port, target.host_is_ip, deadline);
  if (!answers) return answers.error();
  std::vector<std::string> addrs;
  for (const sockaddr_storage& answer : *answers) {
    const auto* addr = reinterpret_cast<const sockaddr*>(&answer);
    if (auto ok = egress::check_address(rule, target, addr); !ok) return ok.error();
    char buf[INET6_ADDRSTRLEN] = {0};
    const void* bytes =
        addr->sa_family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(addr)->sin_addr);
    if (inet_ntop(addr->sa_family, bytes, buf, sizeof buf) == nullptr) continue;
    const std::string text = addr->sa_family == AF_INET6 ? "[" + std::string(buf) + "]" : buf;
    if (std::find(addrs.begin(), addrs.end(), text) == addrs.end()) addrs.push_back(text);
  }
  if (addrs.empty())
    return hostcall::unavailable("cannot resolve " + target.host + ": no addresses");
  // An IP literal is never looked up by curl, so there is nothing to pin.
  if (target.host_is_ip) return std::vector<std::string>{};
  std::string entry = target.host + ":" + std::to_string(target.port) + ":";
  for (size_t i = 0; i < addrs.size(); ++i) entry += (i == 0 ? "" : ",") + addrs[i];
  return std::vector<std::string>{entry};
}

std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  size_t start = path.starts_with('/') ? 1 : 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    const bool last = slash == std::string_view::npos;
    if (last) slash = path.size();
    const std::string_view seg = path.substr(start, slash - start);
    if (seg == "." || seg == "..") {
      if (seg == ".." && !out.empty()) out.pop_back();
      trailing_slash = last;
    } else {
      out.push_back(seg);
      trailing_slash = false;
    }
    start = slash + 1;
  }
  std::string result = "/";
  for (size_t i = 0; i < out.size(); ++i) {
    result += out[i];
    if (i + 1 < out.size()) result += '/';
  }
  if (trailing_slash && !out.empty()) result += '/';
  return result;
}

// RFC 3986 section 5.2 reference resolution. `base` is a Target::url, so it is absolute with a
// path starting at the first '/' after "://".
std::string resolve_location(const std::string& base, std::string_view ref) {
  ref = ref.substr(0, ref.find('#'));
  const size_t colon = ref.find(':');
  if (colon != std::string_view::npos && colon > 0 && ref.find_first_of("/?") > colon &&
      std::isalpha(static_cast<unsigned char>(ref[0]))) {
    return std::string(ref);  // has a scheme: absolute
  }
  const size_t scheme_end = base.find("://");
  const size_t path_at = base.find('/', scheme_end + 3);
  const std::string scheme_auth = base.substr(0, path_at);
  const std::string base_path = base.substr(path_at, base.find('?', path_at) - path_at);
  if (ref.starts_with("//")) return base.substr(0, scheme_end + 1) + std::string(ref);
  if (ref.empty()) return base;
  if (ref.starts_with('?')) return scheme_auth + base_path + std::string(ref);
  const size_t q = ref.find('?');
  const std::string_view ref_path = ref.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : ref.substr(q);
  std::string merged = ref_path.starts_with('/')
                           ? std::string(ref_path)
                           : base_path.substr(0, base_path.rfind('/') + 1) + std::string(ref_path);
  return scheme_auth + remove_dot_segments(merged) + std::string(query);
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

const std::string* find_header(const HeaderList& headers, std::string_view lname) {
  for (const auto& [n, v] : headers) {
    if (n == lname) return &v;
  }
  return nullptr;
}

HostError after_redirect(HostError e, const std::string& from, const std::string& to) {
  e.message = "redirect from " + from + " to " + to + " refused: " + e.message;
  return e;
}

// Egress::fetch without the final scrubbing of error messages.
HostResult<FetchResult> fetch_unscrubbed(HttpClient& http, const SecretVault& secrets,
                                         const config::FetchLimits& limits,
                                         const Resolver& resolver,
                                         const config::Permissions& permissions,
                                         const FetchCall& call, steady_clock::time_point deadline) {
  if (std::find(kMethods.begin(), kMethods.end(), call.method) == kMethods.end()) {
    return hostcall::invalid("method '" + call.method +
                             "' is not one of GET, HEAD, POST, PUT, PATCH, DELETE");
  }
  if (call.body.size() > limits.max_request_bytes) {
    return hostcall::exhausted("request body is " + std::to_string(call.body.size()) +
                               " bytes; the limit is " + std::to_string(limits.max_request_bytes));
  }
  if (call.method == "HEAD" && !call.body.empty()) {
    return hostcall::invalid("a HEAD request cannot carry a body");
  }
  const auto start = steady_clock::now();
  if (deadline <= start) return hostcall::deadline("the invocation's deadline has passed");
  milliseconds budget = call.timeout.count() > 0 ? call.timeout : limits.default_timeout;
  budget = std::min(
      {budget, limits.max_timeout, std::chrono::duration_cast<milliseconds>(deadline - start)});
  if (budget.count() <= 0) return hostcall::deadline("the invocation's deadline has passed");
  const auto end = start + budget;

  auto headers = prepare_headers(call.headers, secrets, permissions.secrets);
  if (!headers) return headers.error();
  std::string method = call.method;
  std::string body = call.body;
  std::string url = call.url;
  std::string previous;  // the URL that redirected to `url`
  std::string first_origin;
  uint32_t redirects = 0;
  while (true) {
    auto target = egress::parse_target(url);
    if (!target) {
      if (redirects == 0) return target.error();
      return after_redirect(hostcall::unavailable(target.error().message), previous, url);
    }
    auto rule = egress::match(permissions.network, *target);
    if (!rule) return redirects == 0 ? rule.error() : after_redirect(rule.error(), previous, url);
    auto pinned = resolve_checked(resolver, **rule, *target, end);
    if (!pinned) {
      HostError e = pinned.error();
      if (e.code == hostcall::Code::deadline_exceeded) {
        e.message = "fetch ran out of its " + std::to_string(budget.count()) + " ms: " + e.message;
      }
      return redirects == 0 ? e : after_redirect(std::move(e), previous, url);
    }

    // Secrets (and credentials curl would also withhold) go only to the origin the plugin
    // named; once a redirect leaves it they are gone for good, even if a later hop returns.
    const std::string origin = origin_of(*target);
    if (first_origin.empty()) first_origin = origin;
    if (origin != first_origin) {
      std::erase_if(*headers, [](const OutHeader& h) {
        const std::string n = lower(h.name);
        return h.secret || n == "authorization" || n == "cookie";
      });
    }
    const auto left = std::chrono::duration_cast<milliseconds>(end - steady_clock::now());
    if (left.count() <= 0) {
      return hostcall::deadline("fetch ran out of its " + std::to_string(budget.count()) +
                                " ms after " + std::to_string(redirects) + " redirect(s)");
    }
    HttpRequest request;
    request.method = method;
    request.url = target->url;
    for (const OutHeader& h : *headers) request.headers.emplace_back(h.name, h.value);
    request.body = body;
    request.timeout = left;
    request.max_response_bytes = limits.max_response_bytes;
    request.pinned = std::move(*pinned);
    auto response = http.perform(request);
    if (!response) return response.error();

    const std::string* location = find_header(response->headers, "location");
    if (is_redirect(response->status) && location != nullptr) {
      if (redirects >= limits.max_redirects) {
        return hostcall::exhausted("too many redirects: " + target->url + " redirects to " +
                                   *location + " after " + std::to_string(redirects) +
                                   " redirect(s); the limit is " +
                                   std::to_string(limits.max_redirects));
      }
      // What browsers and curl do: 303 always, and 301/302 after a POST, become a GET.
      const bool to_get =
          (response->status == 303 && method != "HEAD") ||
          ((response->status == 301 || response->status == 302) && method == "POST");
      if (to_get) {
        method = "GET";
        body.clear();
        std::erase_if(*headers,
                      [](const OutHeader& h) { return lower(h.name).starts_with("content-"); });
      }
      previous = target->url;
      url = resolve_location(target->url, *location);
      ++redirects;
      continue;
    }
    FetchResult out;
    out.status = response->status;
    for (auto& [name, value] : response->headers) {
      out.headers.emplace_back(secrets.scrub(std::move(name)), secrets.scrub(std::move(value)));
    }
    out.body = secrets.scrub(std::move(response->body));
    out.final_url = secrets.scrub(target->url);
    out.redirects = redirects;
    return out;
  }
}

}  // namespace

HostResult<FetchResult> Egress::fetch(const config::Permissions& permissions, const FetchCall& call,
                                      steady_clock::time_point deadline) const {
  auto result = fetch_unscrubbed(http_, secrets_, limits_, resolver_, permissions, call, deadline);
  if (result) return result;
  // Every message may quote a URL, a Location or an upstream's words: none may carry a secret.
  HostError e = result.error();
  e.message = secrets_.scrub(std::move(e.message));
  e.target = secrets_.scrub(std::move(e.target));
  return e;
}

}  // namespace plugvisor::host
