#include "dispatch/catalog.h"

#include <utility>

namespace plugvisor::dispatch {
namespace {

HookSpec spec(std::string name, bool blockable, std::vector<std::string> mutable_paths) {
  HookSpec s;
  s.name = std::move(name);
  s.blockable = blockable;
  s.mutable_paths = std::move(mutable_paths);
  s.default_timeout = std::chrono::milliseconds(1500);
  return s;
}

}  // namespace

HookCatalog HookCatalog::defaults() {
  HookCatalog c;
  // "post" hooks observe something that already happened, so blocking them would be a lie;
  // "pre" hooks guard an action and may stop it.
  c.put(spec("work_item.pre_create", true, {"/title", "/body", "/labels", "/metadata"}));
  c.put(spec("work_item.post_create", false, {}));
  c.put(spec("run.pre_prompt", true, {"/prompt", "/system", "/context"}));
  c.put(spec("model.pre_call", true,
             {"/messages", "/model", "/temperature", "/max_tokens", "/metadata"}));
  c.put(spec("model.post_call", false, {"/response/content", "/metadata"}));
  c.put(spec("tool.pre_exec", true, {"/arguments", "/metadata"}));
  c.put(spec("tool.post_exec", false, {"/output", "/metadata"}));
  c.put(spec("response.pre_deliver", true, {"/content", "/metadata"}));
  c.put(spec("response.post_deliver", false, {}));
  c.put(spec("message.enrich", false, {"/enrichments"}));
  c.put(spec("message.extract", false, {"/extracted"}));
  return c;
}

void HookCatalog::put(HookSpec spec) {
  std::string name = spec.name;
  hooks_.insert_or_assign(std::move(name), std::move(spec));
}

const HookSpec* HookCatalog::find(std::string_view name) const {
  auto it = hooks_.find(name);
  return it == hooks_.end() ? nullptr : &it->second;
}

std::vector<const HookSpec*> HookCatalog::all() const {
  std::vector<const HookSpec*> out;
  out.reserve(hooks_.size());
  for (const auto& [name, s] : hooks_) out.push_back(&s);
  return out;
}

}  // namespace plugvisor::dispatch
