#include "sandbox/mechanisms.h"

#include <sstream>

namespace plugvisor::sandbox {

namespace {

bool truthy(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_object()) return it->value("available", it->value("filter", false));
  if (it->is_number()) return it->get<double>() > 0;
  return false;
}

// {"v1": path|null, "v2": path|null}: v2 wins where the controller lives there.
CgroupController controller(const nlohmann::json& cgroups, const char* name) {
  CgroupController c;
  auto it = cgroups.find(name);
  if (it == cgroups.end() || !it->is_object()) return c;
  for (auto [key, version] : {std::pair{"v2", 2}, {"v1", 1}}) {
    auto p = it->find(key);
    if (p != it->end() && p->is_string() && !p->get<std::string>().empty()) {
      c.version = version;
      c.path = p->get<std::string>();
      return c;
    }
  }
  return c;
}

}  // namespace

bool Mechanisms::has(const std::string& name) const {
  auto it = available.find(name);
  return it != available.end() && it->second;
}

std::vector<std::string> Mechanisms::missing(const std::vector<std::string>& required) const {
  std::vector<std::string> out;
  for (const auto& r : required) {
    if (!has(r)) out.push_back(r);
  }
  return out;
}

std::string Mechanisms::table() const {
  std::ostringstream out;
  for (const auto& name : config::all_sandbox_mechanisms()) {
    out << "  " << name << std::string(name.size() < 14 ? 14 - name.size() : 1, ' ')
        << (has(name) ? "yes" : "NO");
    if (auto it = detail.find(name); it != detail.end() && !it->second.empty()) {
      out << "  (" << it->second << ")";
    }
    out << "\n";
  }
  return out.str();
}

Result<Mechanisms> parse_probe(const std::string& json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (!j.is_object()) return Error{"plugvisor-runner --probe printed no JSON object: " + json_text};
  Mechanisms m;
  m.raw = j;
  auto ns = j.value("namespaces", nlohmann::json::object());
  for (const char* n : {"user", "pid", "mount", "net", "ipc", "uts", "cgroup"}) {
    m.available[std::string(n) + "_ns"] = truthy(ns, n);
  }
  m.landlock_abi = j.value("landlock_abi", 0);
  if (auto it = j.find("landlock"); it != j.end() && it->is_object()) {
    m.landlock_abi = it->value("abi", m.landlock_abi);
  }
  m.available["landlock"] = m.landlock_abi > 0;
  m.detail["landlock"] = m.landlock_abi > 0 ? "ABI " + std::to_string(m.landlock_abi) : "";
  m.available["seccomp"] = truthy(j, "seccomp");
  m.available["no_new_privs"] = truthy(j, "no_new_privs");
  // rlimits are plain POSIX; every Linux has them.
  m.available["rlimits"] = true;
  auto cg = j.value("cgroups", nlohmann::json::object());
  m.memory = controller(cg, "memory");
  m.pids = controller(cg, "pids");
  m.cpu = controller(cg, "cpu");
  // Creating cgroups needs root (or a delegated subtree, which we do not look for).
  bool root = j.value("root", false);
  m.available["cgroups"] = root && m.memory.version != 0 && m.pids.version != 0;
  m.detail["cgroups"] = "memory v" + std::to_string(m.memory.version) + ", pids v" +
                        std::to_string(m.pids.version) + ", cpu v" + std::to_string(m.cpu.version) +
                        (root ? "" : ", not root");
  return m;
}

}  // namespace plugvisor::sandbox
