// The host services' front: HostResult helpers, FetchResponse, State, and Context's host calls.
// The checks every host makes the same way (a connection at all, time left) live here, once,
// in front of whichever HostApi is behind the call.
#include "plugvisor/sdk/host.h"

#include <stdexcept>

#include "plugvisor/sdk/plugin.h"

namespace plugvisor::sdk {

const char* to_string(HostCode code) {
  switch (code) {
    case HostCode::ok:
      return "ok";
    case HostCode::invalid_argument:
      return "invalid_argument";
    case HostCode::deadline_exceeded:
      return "deadline_exceeded";
    case HostCode::not_found:
      return "not_found";
    case HostCode::permission_denied:
      return "permission_denied";
    case HostCode::resource_exhausted:
      return "resource_exhausted";
    case HostCode::failed_precondition:
      return "failed_precondition";
    case HostCode::aborted:
      return "aborted";
    case HostCode::internal:
      return "internal";
    case HostCode::unavailable:
      return "unavailable";
    case HostCode::unknown:
      return "unknown";
  }
  return "unknown";
}

namespace detail {

void throw_failed_access(const HostError& error) {
  throw std::logic_error(std::string("plugvisor sdk: value() of a failed host call (") +
                         to_string(error.code) + "): " + error.message);
}

const HostError& ok_error() {
  static const HostError ok{HostCode::ok, {}};
  return ok;
}

}  // namespace detail

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Runs `body` against the host unless the call cannot succeed anyway: without a connection
// (started by hand, or an older supervisor) and past the deadline, asking would only add a
// round trip or a hang to the same answer.
template <class F>
auto with_host(const std::shared_ptr<HostApi>& host, const HostCall& call, F&& body)
    -> decltype(body(*host)) {
  if (!host) return HostError{HostCode::unavailable, "no host connection"};
  if (std::chrono::steady_clock::now() >= call.deadline) {
    return HostError{HostCode::deadline_exceeded, "the invocation's deadline has passed"};
  }
  return body(*host);
}

}  // namespace

std::string FetchResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

HostResult<std::optional<StateEntry>> State::get(const std::string& key) const {
  return with_host(host_, call_, [&](HostApi& h) { return h.state_get(call_, key); });
}

HostResult<StateEntry> State::put(const std::string& key, const std::string& value,
                                  PutOptions options) const {
  return with_host(host_, call_,
                   [&](HostApi& h) { return h.state_put(call_, key, value, options); });
}

HostResult<bool> State::erase(const std::string& key,
                              std::optional<int64_t> expected_version) const {
  return with_host(host_, call_,
                   [&](HostApi& h) { return h.state_erase(call_, key, expected_version); });
}

HostResult<StatePage> State::list(const std::string& prefix, ListOptions options) const {
  return with_host(host_, call_, [&](HostApi& h) { return h.state_list(call_, prefix, options); });
}

HostResult<FetchResponse> Context::fetch(const FetchRequest& request) const {
  return with_host(host_, call_, [&](HostApi& h) { return h.fetch(call_, request); });
}

HostResult<ChatResponse> Context::ai_chat(const ChatRequest& request) const {
  return with_host(host_, call_, [&](HostApi& h) { return h.ai_chat(call_, request); });
}

HostResult<std::string> Context::emit(const std::string& name, const Json& payload) const {
  return with_host(host_, call_, [&](HostApi& h) { return h.emit(call_, name, payload); });
}

}  // namespace plugvisor::sdk
