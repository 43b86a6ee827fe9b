// FakeHost's Fetch: the supervisor's egress checks without the network. The URL and the rules
// are judged by common/'s egress code; an IP literal's address range too, while a name is
// judged by the rules alone (the fake resolves nothing). Secret references are filled in for
// the upstream and their values scrubbed from the answer, as the supervisor's egress does.
#include <arpa/inet.h>

#include <cstring>

#include "testing_host.h"

namespace plugvisor::sdk::testing {
namespace {

constexpr std::string_view kSecretOpen = "{{secret:";
constexpr std::string_view kSecretClose = "}}";

bool known_method(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}) {
    if (method == m) return true;
  }
  return false;
}

// The address an IP-literal host names, for check_address; nullopt for anything else.
std::optional<sockaddr_storage> literal_address(const egress::Target& target) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, target.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(target.port);
    return storage;
  }
  if (::inet_pton(AF_INET6, target.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(target.port);
    return storage;
  }
  return std::nullopt;
}

// `text` with every {{secret:NAME}} replaced by its value; a NAME that is not declared is
// refused (permission "secrets", target NAME), as the supervisor's vault refuses it.
hostcall::HostResult<std::string> fill_secrets(const std::string& text,
                                               const std::map<std::string, std::string>& secrets) {
  std::string out;
  size_t from = 0;
  for (size_t open = text.find(kSecretOpen); open != std::string::npos;
       open = text.find(kSecretOpen, from)) {
    const size_t name_at = open + kSecretOpen.size();
    const size_t close = text.find(kSecretClose, name_at);
    if (close == std::string::npos) {
      return hostcall::invalid("unterminated {{secret: reference in a header value");
    }
    const std::string name = text.substr(name_at, close - name_at);
    auto it = secrets.find(name);
    if (it == secrets.end()) {
      return hostcall::denied("secrets", name, "the plugin's permissions do not declare it");
    }
    out.append(text, from, open - from).append(it->second);
    from = close + kSecretClose.size();
  }
  return out.append(text, from, std::string::npos);
}

}  // namespace

HostResult<FetchResponse> FakeHost::Impl::fetch(const std::string& caller, const HostCall& call,
                                                const FetchRequest& request) {
  std::optional<FetchResponse> scripted;
  FetchHandler handler;
  FetchRequest sent = request;
  {
    std::lock_guard lock(mu);
    auto scope = resolve(caller, call, /*needs_invocation=*/true, "Fetch");
    if (!scope) return fail(caller, scope.error());
    if (!known_method(request.method)) {
      return fail(caller, hostcall::invalid("unsupported HTTP method " + request.method));
    }
    auto target = egress::parse_target(request.url);
    if (!target) return fail(caller, target.error());
    auto rule = egress::match(rules, *target);
    if (!rule) return fail(caller, rule.error());
    if (target->host_is_ip) {
      if (auto address = literal_address(*target)) {
        auto allowed =
            egress::check_address(**rule, *target, reinterpret_cast<const sockaddr*>(&*address));
        if (!allowed) return fail(caller, allowed.error());
      }
    }
    for (auto& [name, value] : sent.headers) {
      auto filled = fill_secrets(value, secrets);
      if (!filled) return fail(caller, filled.error());
      value = std::move(*filled);
    }
    sent.url = target->url;
    fetches.push_back({caller, scope->tenant_id, sent});
    if (auto it = fetch_answers.find(target->url); it != fetch_answers.end()) {
      scripted = it->second;
    } else {
      handler = fetch_handler;
    }
  }
  // The handler runs outside the lock: it may well look at the host itself.
  HostResult<FetchResponse> answer =
      scripted ? HostResult<FetchResponse>(std::move(*scripted))
      : handler
          ? handler(sent)
          : HostError{HostCode::unavailable, "FakeHost has no answer for " + sent.url +
                                                 " (on_fetch(url, ...) or on_fetch(handler))"};
  std::lock_guard lock(mu);
  if (!answer) return HostError{answer.error().code, scrub(answer.error().message)};
  if (answer->final_url.empty()) answer->final_url = sent.url;
  answer->final_url = scrub(std::move(answer->final_url));
  answer->body = scrub(std::move(answer->body));
  for (auto& header : answer->headers) header.second = scrub(std::move(header.second));
  return answer;
}

}  // namespace plugvisor::sdk::testing
