#include "dispatch/registry.h"

#include <catch2/catch.hpp>

#include "dispatch/fakes.h"

using namespace plugvisor::dispatch;

namespace {

Handler h(const std::string& hook, int priority, const std::string& tag = "") {
  Handler out;
  out.hook = hook;
  out.priority = priority;
  out.timeout = std::chrono::milliseconds(tag.size());  // lets a test tell handlers apart
  return out;
}

std::vector<std::string> ids(const HandlerRegistry::Chain& chain) {
  std::vector<std::string> out;
  for (const Handler& x : chain) out.push_back(x.plugin_id);
  return out;
}

}  // namespace

TEST_CASE("chains run by priority desc, then plugin id, then registration order") {
  HandlerRegistry r;
  r.set_plugin_handlers("zeta", {h("tool.pre_exec", 10)});
  r.set_plugin_handlers("alpha", {h("tool.pre_exec", 5)});
  r.set_plugin_handlers("beta", {h("tool.pre_exec", 10)});
  r.set_plugin_handlers("gamma", {h("tool.pre_exec", -1)});
  CHECK(ids(*r.chain("tool.pre_exec")) ==
        std::vector<std::string>{"beta", "zeta", "alpha", "gamma"});
}

TEST_CASE("two handlers of one plugin on one hook keep their registration order") {
  HandlerRegistry r;
  r.set_plugin_handlers("p", {h("x", 1, "a"), h("x", 1, "bb")});
  auto chain = r.chain("x");
  REQUIRE(chain->size() == 2);
  CHECK((*chain)[0].timeout.count() == 1);
  CHECK((*chain)[1].timeout.count() == 2);
  CHECK((*chain)[0].registration_order < (*chain)[1].registration_order);
}

TEST_CASE("set_plugin_handlers replaces the plugin's handlers in every chain") {
  HandlerRegistry r;
  r.set_plugin_handlers("p", {h("a", 1), h("b", 1)});
  r.set_plugin_handlers("q", {h("a", 0)});
  r.set_plugin_handlers("p", {h("c", 1)});
  CHECK(ids(*r.chain("a")) == std::vector<std::string>{"q"});
  CHECK(r.chain("b")->empty());
  CHECK(ids(*r.chain("c")) == std::vector<std::string>{"p"});
  r.remove_plugin("q");
  CHECK(r.chain("a")->empty());
}

TEST_CASE("handlers take the plugin id they were registered under") {
  HandlerRegistry r;
  Handler x = h("a", 1);
  x.plugin_id = "someone-else";
  r.set_plugin_handlers("p", {x});
  CHECK(ids(*r.chain("a")) == std::vector<std::string>{"p"});
}

TEST_CASE("an unknown hook has an empty chain, never null") {
  HandlerRegistry r;
  auto chain = r.chain("nothing.here");
  REQUIRE(chain != nullptr);
  CHECK(chain->empty());
}

TEST_CASE("a snapshot is unaffected by later registrations") {
  HandlerRegistry r;
  r.set_plugin_handlers("p", {h("a", 1)});
  auto before = r.chain("a");
  r.set_plugin_handlers("q", {h("a", 2)});
  r.remove_plugin("p");
  CHECK(ids(*before) == std::vector<std::string>{"p"});
  CHECK(ids(*r.chain("a")) == std::vector<std::string>{"q"});
}
