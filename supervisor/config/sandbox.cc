// The sandbox section and each plugin's permissions.
#include <algorithm>

#include "config/parser.h"

namespace plugvisor::config::detail {

void Parser::read_sandbox(const Entry& at, SandboxConfig& s) {
  auto f = r_.map(at, {"mode", "require", "uid_base", "cgroup_name", "shared_netns"});
  if (!f) return;
  if (const Entry* e = f->get("mode")) {
    if (auto v = r_.str(*e)) {
      if (*v == "enforce") {
        s.mode = SandboxMode::enforce;
      } else if (*v == "off") {
        s.mode = SandboxMode::off;
      } else {
        r_.fail(*e, "must be enforce or off, not '" + *v + "'");
      }
    }
  }
  if (const Entry* e = f->get("require")) {
    if (auto v = r_.str_list(*e)) {
      const auto& known = all_sandbox_mechanisms();
      for (const auto& name : *v) {
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          std::string list;
          for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
          r_.fail(*e, "unknown mechanism '" + name + "' (known: " + list + ")");
        }
      }
      s.require = std::move(*v);
    }
  }
  if (const Entry* e = f->get("shared_netns")) {
    if (auto v = r_.boolean(*e)) s.shared_netns = *v;
  }
  // Host uids below 1000 belong to the system; plugins get their own range.
  set_int(*f, "uid_base", s.uid_base, 1000, 4'000'000'000LL);
  if (const Entry* e = f->get("cgroup_name")) {
    if (auto v = r_.str(*e)) {
      if (v->empty() || v->find('/') != std::string::npos || *v == "." || *v == "..") {
        r_.fail(*e, "must be a single directory name");
      } else {
        s.cgroup_name = *v;
      }
    }
  }
}

void Parser::read_resources(const Entry& at, Resources& r) {
  auto f = r_.map(at, {"memory_mb", "pids", "cpu_percent", "cpu_seconds", "tmp_mb", "open_files"});
  if (!f) return;
  // A gRPC C++ plugin needs a few dozen MiB, threads and fds; lower limits only make it fail.
  set_int(*f, "memory_mb", r.memory_mb, 16, 1 << 20);
  set_int(*f, "pids", r.pids, 8, 1 << 22);
  set_int(*f, "cpu_percent", r.cpu_percent, 1, 100 * 1024);
  set_int(*f, "cpu_seconds", r.cpu_seconds, 0, kMaxCount);
  set_int(*f, "tmp_mb", r.tmp_mb, 1, 1 << 20);
  set_int(*f, "open_files", r.open_files, 32, 1 << 20);
}

void Parser::read_permissions(const Entry& at, Permissions& p) {
  auto f = r_.map(at, {"filesystem", "network", "secrets", "spawn", "resources", "state", "ai"});
  if (!f) return;
  if (const Entry* e = f->get("filesystem")) {
    if (auto items = r_.seq(*e)) {
      p.filesystem.clear();
      for (const Entry& item : *items) {
        auto g = r_.map(item, {"path", "mode"});
        if (!g) continue;
        PathGrant grant;
        if (const Entry* pe = g->get("path")) {
          if (auto v = r_.str(*pe)) {
            if (v->empty() || v->front() != '/') {
              r_.fail(*pe, "must be an absolute path");
            } else {
              grant.path = std::filesystem::path(*v).lexically_normal().string();
            }
          }
        } else {
          r_.fail(item, "'path' is required");
        }
        if (const Entry* me = g->get("mode")) {
          if (auto v = r_.str(*me)) {
            if (*v == "rw") {
              grant.writable = true;
            } else if (*v != "ro") {
              r_.fail(*me, "must be ro or rw, not '" + *v + "'");
            }
          }
        }
        p.filesystem.push_back(std::move(grant));
      }
    }
  }
  if (const Entry* e = f->get("network")) {
    read_network(*e, p.network);
  }
  if (const Entry* e = f->get("state")) read_state_quota(*e, p.state);
  if (const Entry* e = f->get("ai")) read_ai_policy(*e, p.ai);
  if (const Entry* e = f->get("secrets")) {
    if (auto v = r_.str_list(*e)) p.secrets = std::move(*v);
  }
  if (const Entry* e = f->get("spawn")) {
    if (auto v = r_.boolean(*e)) p.spawn = *v;
  }
  if (const Entry* e = f->get("resources")) read_resources(*e, p.resources);
}

}  // namespace plugvisor::config::detail
