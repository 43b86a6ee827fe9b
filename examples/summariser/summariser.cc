#include "summariser.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>

namespace plugvisor::examples::summariser {
namespace {

using sdk::Json;

// One number setting: absent keeps `fallback`; anything else must be an integer in range.
uint64_t count_setting(const Json& settings, const char* key, uint64_t min, uint64_t max,
                       uint64_t fallback) {
  if (!settings.contains(key)) return fallback;
  const Json& v = settings[key];
  const bool integer = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  if (!integer || v.get<uint64_t>() < min || v.get<uint64_t>() > max) {
    throw std::invalid_argument(std::string(key) + " must be an integer from " +
                                std::to_string(min) + " to " + std::to_string(max));
  }
  return v.get<uint64_t>();
}

double number_setting(const Json& settings, const char* key, double min, double max) {
  const Json& v = settings[key];
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min ||
      v.get<double>() > max) {
    throw std::invalid_argument(std::string(key) + " must be a number from " + std::to_string(min) +
                                " to " + std::to_string(max));
  }
  return v.get<double>();
}

int64_t now_unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// "<code>: <message>" of a host error, for fail messages that end up on the receipt.
std::string describe(const sdk::HostError& error) {
  return std::string(sdk::to_string(error.code)) + ": " + error.message;
}

// The model may wrap its answer in blank lines; a summary that is only whitespace is no answer.
std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

// ---- Settings -------------------------------------------------------------------------------

Settings Settings::from_json(const Json& settings) {
  Settings out;
  if (settings.is_null()) return out;
  if (!settings.is_object()) throw std::invalid_argument("settings must be a JSON object");
  static const char* const kKnown[] = {"max_input_chars", "max_summary_chars", "temperature",
                                       "max_tokens",      "ttl_hours",         "system_prompt"};
  for (const auto& [key, value] : settings.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      throw std::invalid_argument("unknown setting \"" + key +
                                  "\" (known: max_input_chars, max_summary_chars, temperature, "
                                  "max_tokens, ttl_hours, system_prompt)");
    }
  }
  out.max_input_chars =
      count_setting(settings, "max_input_chars", 1, 1'000'000, out.max_input_chars);
  out.max_summary_chars =
      count_setting(settings, "max_summary_chars", 1, 100'000, out.max_summary_chars);
  out.max_tokens = static_cast<uint32_t>(count_setting(settings, "max_tokens", 0, 1'000'000, 0));
  if (settings.contains("temperature")) {
    out.temperature = number_setting(settings, "temperature", 0, 2);
  }
  if (settings.contains("ttl_hours")) {
    // Fractions are allowed (0.5 is half an hour); ten years is far past any real retention.
    const double hours = number_setting(settings, "ttl_hours", 0, 24.0 * 365 * 10);
    out.ttl = std::chrono::milliseconds(static_cast<int64_t>(std::llround(hours * 3'600'000.0)));
  }
  if (settings.contains("system_prompt")) {
    const Json& v = settings["system_prompt"];
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
      throw std::invalid_argument("system_prompt must be a non-empty string");
    }
    out.system_prompt = v.get<std::string>();
  }
  return out;
}

const std::string& default_system_prompt() {
  static const std::string prompt =
      "You maintain a running summary of a conversation, for someone who has not read it. "
      "You are given the current summary (possibly empty) and the assistant's newest response. "
      "Return the updated summary: concise, factual, in the language of the conversation, "
      "keeping decisions, commitments, open questions and names; drop pleasantries and "
      "repetition. Never include secrets, credentials or personal contact details. Reply with "
      "the summary text only, no preamble.";
  return prompt;
}

// ---- Summary --------------------------------------------------------------------------------

std::string Summary::to_json() const {
  const Json doc = {{"format", kFormat},
                    {"summary", text},
                    {"turns", turns},
                    {"model", model},
                    {"updated_at_unix_ms", updated_at_unix_ms}};
  // A model's answer is not guaranteed to be valid UTF-8; replacing bad bytes beats throwing
  // after the tokens were paid for.
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<Summary> Summary::from_json(std::string_view value) {
  const Json doc = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  const auto format = doc.find("format");
  if (format == doc.end() || !format->is_number_integer() || format->get<int64_t>() != kFormat) {
    return std::nullopt;
  }
  const auto text = doc.find("summary");
  const auto turns = doc.find("turns");
  if (text == doc.end() || !text->is_string() || turns == doc.end() ||
      !turns->is_number_integer() || turns->get<int64_t>() < 0) {
    return std::nullopt;
  }
  Summary s;
  s.text = text->get<std::string>();
  s.turns = turns->get<int64_t>();
  if (auto m = doc.find("model"); m != doc.end() && m->is_string()) s.model = m->get<std::string>();
  if (auto t = doc.find("updated_at_unix_ms"); t != doc.end() && t->is_number_integer()) {
    s.updated_at_unix_ms = t->get<int64_t>();
  }
  return s;
}

std::string state_key(const std::string& work_item_id) { return "summary/" + work_item_id; }

// ---- Text -----------------------------------------------------------------------------------

size_t char_count(std::string_view text) {
  size_t n = 0;
  // Every byte that is not a continuation byte (10xxxxxx) starts a character.
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string_view utf8_prefix(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars) return text.substr(0, i);
    ++chars;
  }
  return text;
}

sdk::ChatRequest build_request(const Settings& settings, const std::optional<Summary>& previous,
                               std::string_view content, bool content_truncated) {
  std::string user = "Current summary";
  if (previous && !previous->text.empty()) {
    user += " (covers " + std::to_string(previous->turns) + " responses):\n" +
            std::string(utf8_prefix(previous->text, settings.max_summary_chars));
  } else {
    user += ":\n(none yet: this is the first response)";
  }
  user += "\n\nNewest response";
  if (content_truncated) {
    user += " (cut to its first " + std::to_string(settings.max_input_chars) + " characters)";
  }
  user += ":\n" + std::string(content);

  sdk::ChatRequest request;
  request.messages = {{.role = "system",
                       .content = settings.system_prompt.empty() ? default_system_prompt()
                                                                 : settings.system_prompt},
                      {.role = "user", .content = std::move(user)}};
  request.temperature = settings.temperature;
  request.max_tokens = settings.max_tokens;
  return request;
}

// ---- The handler ----------------------------------------------------------------------------

namespace {

class Updater {
 public:
  Updater(std::shared_ptr<const Settings> settings, std::string event_name)
      : settings_(std::move(settings)), event_name_(std::move(event_name)) {}

  sdk::Result operator()(sdk::Context& ctx, const Json& data) const {
    const std::string& work_item = ctx.work_item_id();
    if (work_item.empty()) {
      // Nothing to key a summary by: a delivery outside a work item is not an error.
      ctx.log().info("no work item: nothing to summarise");
      return sdk::Result::proceed();
    }
    const auto content = data.find("content");
    if (content == data.end() || content->is_null() ||
        (content->is_string() && content->get_ref<const std::string&>().empty())) {
      ctx.log().info("empty response: summary unchanged", {{"work_item_id", work_item}});
      return sdk::Result::proceed();
    }
    if (!content->is_string()) {
      return sdk::Result::fail("summariser: data.content is not a string (" +
                               std::string(content->type_name()) + ")");
    }
    const std::string& text = content->get_ref<const std::string&>();
    const std::string_view cut = utf8_prefix(text, settings_->max_input_chars);

    const std::string key = state_key(work_item);
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      if (ctx.cancelled()) {
        return sdk::Result::fail("summariser: out of time before " + key + " could be updated");
      }
      auto read = ctx.state().get(key);
      if (!read) {
        return sdk::Result::fail("summariser: reading " + key + ": " + describe(read.error()));
      }
      std::optional<Summary> previous;
      int64_t version = 0;  // 0 asks the host to create the key only if it still does not exist
      if (const auto& entry = *read) {
        version = entry->version;
        previous = Summary::from_json(entry->value);
        // Overwriting (under compare-and-set) is the only way out of a value this code cannot
        // read; it is logged so a format change is noticed.
        if (!previous) ctx.log().warn("unreadable summary replaced", {{"key", key}});
      }

      auto chat = ctx.ai_chat(build_request(*settings_, previous, cut, cut.size() < text.size()));
      if (!chat) return sdk::Result::fail("summariser: AI chat failed: " + describe(chat.error()));
      std::string answer = trimmed(chat->message.content);
      if (answer.empty()) {
        return sdk::Result::fail("summariser: the model returned an empty summary (finish_reason " +
                                 (chat->finish_reason.empty() ? "unset" : chat->finish_reason) +
                                 ")");
      }
      Summary next{.text = std::string(utf8_prefix(answer, settings_->max_summary_chars)),
                   .turns = (previous ? previous->turns : 0) + 1,
                   .model = chat->model,
                   .updated_at_unix_ms = now_unix_ms()};

      auto put = ctx.state().put(key, next.to_json(),
                                 {.expected_version = version, .ttl = settings_->ttl});
      if (put) return announce(ctx, work_item, next, put->version, attempt);
      if (put.error().code != sdk::HostCode::aborted) {
        return sdk::Result::fail("summariser: storing " + key + ": " + describe(put.error()));
      }
      // Another delivery for this work item stored its summary first: fold this response into
      // that one instead of overwriting it.
      ctx.log().info("summary changed meanwhile, retrying",
                     {{"work_item_id", work_item}, {"attempt", attempt}});
    }
    return sdk::Result::fail("summariser: " + key + " kept changing; gave up after " +
                             std::to_string(kMaxAttempts) + " attempts");
  }

 private:
  sdk::Result announce(sdk::Context& ctx, const std::string& work_item, const Summary& summary,
                       int64_t version, int attempts) const {
    const Json fields = {
        {"work_item_id", work_item}, {"turns", summary.turns}, {"chars", char_count(summary.text)}};
    // The summary is stored, which is the job; a lost event is worth a warning, not a failed
    // receipt that would suggest the update did not happen.
    if (auto id = ctx.emit(event_name_, fields); !id) {
      ctx.log().warn("summary_updated event not published", {{"error", describe(id.error())}});
    }
    Json logged = fields;
    logged["version"] = version;
    logged["attempts"] = attempts;
    ctx.log().info("summary updated", logged);
    return sdk::Result::proceed();
  }

  std::shared_ptr<const Settings> settings_;
  std::string event_name_;
};

}  // namespace

void install(sdk::Plugin& plugin) {
  // Shared by the configure callback and the handler; configure runs during the handshake,
  // before any handler.
  auto settings = std::make_shared<Settings>();
  plugin.on_configure([settings](const Json& s) { *settings = Settings::from_json(s); });
  // The event namespace is the plugin's own id, so a renamed plugin keeps emitting legally.
  Updater updater(settings, "plugin." + plugin.id() + ".summary_updated");
  // fail_open: the response is already delivered; a summary that could not be updated must not
  // turn into a blocked dispatch. The receipt still carries the reason.
  plugin.on("response.post_deliver",
            [updater](sdk::Context& ctx, const Json& data) { return updater(ctx, data); },
            {.priority = 0, .fail_policy = sdk::FailPolicy::fail_open});
}

}  // namespace plugvisor::examples::summariser
