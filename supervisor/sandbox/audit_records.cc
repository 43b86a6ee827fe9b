#include "sandbox/audit_records.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "plugvisor/common/hex.h"

namespace plugvisor::sandbox {
namespace {

// A process's own strings (its path, comm, the file it named): the kernel prints them quoted,
// or in hex when they hold a space, a quote or a control byte.
const std::set<std::string, std::less<>> kUntrustedStrings = {"path",  "name", "exe", "comm",
                                                              "ocomm", "dev",  "cwd", "proctitle"};
constexpr size_t kMaxValueBytes = 1024;
constexpr size_t kMaxPendingEvents = 256;
constexpr size_t kMaxDomains = 4096;

// Events end up in jsonb and in an operator's terminal: neither may get raw bytes from a plugin.
std::string printable(std::string_view raw) {
  static constexpr std::array<char, 16> kDigits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                   '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out;
  for (unsigned char c : raw.substr(0, kMaxValueBytes)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  if (raw.size() > kMaxValueBytes) out += "...";
  return out;
}

template <typename T>
std::optional<T> number(const std::map<std::string, std::string>& fields, const char* key,
                        int base = 10) {
  auto it = fields.find(key);
  if (it == fields.end()) return std::nullopt;
  T value{};
  const auto& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

namespace {

// The serial of "audit(1795351600.056:4): ..." and where the fields start.
std::optional<std::pair<uint64_t, size_t>> stamp_of(std::string_view text) {
  constexpr std::string_view kStamp = "audit(";
  if (text.substr(0, kStamp.size()) != kStamp) return std::nullopt;
  const size_t close = text.find("):");
  const size_t colon = text.rfind(':', close);
  if (close == std::string_view::npos || colon == std::string_view::npos || colon < kStamp.size())
    return std::nullopt;
  uint64_t serial = 0;
  const std::string_view digits = text.substr(colon + 1, close - colon - 1);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), serial).ec != std::errc())
    return std::nullopt;
  return std::pair(serial, close + 2);
}

}  // namespace

std::optional<AuditRecord> parse_audit_record(std::string_view text) {
  const auto stamp = stamp_of(text);
  if (!stamp) return std::nullopt;
  AuditRecord rec;
  rec.serial = stamp->first;
  std::string_view rest = text.substr(stamp->second);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t eq = rest.find('=');
    const size_t space = rest.find(' ');
    if (eq == std::string_view::npos || (space != std::string_view::npos && space < eq)) {
      rest.remove_prefix(space == std::string_view::npos ? rest.size() : space);  // a bare word
      continue;
    }
    const std::string key(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      const size_t end = rest.find('"', 1);
      value = rest.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    } else {
      const size_t end = rest.find(' ');
      const std::string_view raw = rest.substr(0, end);
      std::optional<std::string> decoded;
      if (kUntrustedStrings.contains(key) && !raw.empty()) decoded = from_hex(raw);
      value = decoded ? std::move(*decoded) : std::string(raw);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    rec.fields[key] = printable(value);
  }
  return rec;
}

std::vector<LandlockDenial> LandlockDenialAssembler::add(int type, std::string_view text,
                                                         Clock::time_point now) {
  std::vector<LandlockDenial> out;
  // Where the host audits other things, most records belong to no Landlock event: only the
  // Landlock ones, and those of an event already pending, are worth parsing.
  const bool landlock = type == kAuditLandlockAccess || type == kAuditLandlockDomain;
  if (!landlock) {
    const auto stamp = stamp_of(text);
    if (!stamp || !pending_.contains(stamp->first)) return out;
  }
  auto rec = parse_audit_record(text);
  if (!rec) return out;
  switch (type) {
    case kAuditLandlockAccess: {
      if (pending_.size() >= kMaxPendingEvents) {
        finish(pending_.begin()->second, out);  // the oldest: its EOE is overdue anyway
        pending_.erase(pending_.begin());
      }
      auto [it, fresh] = pending_.try_emplace(rec->serial);
      if (fresh) it->second.first_seen = now;
      it->second.access.push_back(std::move(*rec));
      break;
    }
    case kAuditLandlockDomain: {
      const auto& f = rec->fields;
      auto domain = f.find("domain");
      auto status = f.find("status");
      if (domain == f.end() || status == f.end()) break;
      if (status->second == "deallocated") {
        domains_.erase(domain->second);
      } else if (auto uid = number<uint32_t>(f, "uid")) {
        if (domains_.size() >= kMaxDomains) domains_.clear();  // leaks would be worse
        domains_[domain->second] = *uid;
      }
      break;
    }
    case kAuditSyscall:
      if (auto it = pending_.find(rec->serial); it != pending_.end()) {
        it->second.syscall = std::move(*rec);
      }
      break;
    case kAuditEndOfEvent:
      if (auto it = pending_.find(rec->serial); it != pending_.end()) {
        finish(it->second, out);
        pending_.erase(it);
      }
      break;
    default:
      break;
  }
  return out;
}

std::vector<LandlockDenial> LandlockDenialAssembler::expire(Clock::time_point now,
                                                            std::chrono::milliseconds grace) {
  std::vector<LandlockDenial> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.first_seen < grace) {
      ++it;
      continue;
    }
    finish(it->second, out);
    it = pending_.erase(it);
  }
  return out;
}

void LandlockDenialAssembler::finish(Pending& p, std::vector<LandlockDenial>& out) {
  for (auto& access : p.access) {
    auto& f = access.fields;
    std::optional<uint32_t> uid;
    if (auto d = domains_.find(f["domain"]); d != domains_.end()) uid = d->second;
    if (!uid && p.syscall) uid = number<uint32_t>(p.syscall->fields, "uid");
    if (!uid) continue;  // nobody to charge it to

    LandlockDenial denial;
    denial.uid = *uid;
    denial.detail = nlohmann::json::object();
    for (const auto& [key, value] : f) {
      if (key == "ino") {
        denial.detail[key] = number<uint64_t>(f, "ino").value_or(0);
      } else {
        denial.detail[key] = value;
      }
    }
    if (p.syscall) {
      const auto& s = p.syscall->fields;
      if (auto pid = number<int64_t>(s, "pid")) denial.detail["pid"] = *pid;
      if (auto ret = number<int64_t>(s, "exit")) denial.detail["result"] = *ret;
      auto nr = number<int>(s, "syscall");
      auto arch = number<uint32_t>(s, "arch", 16);
      if (nr) {
        std::string name = namer_ && arch ? namer_(*arch, *nr) : std::string();
        denial.detail["syscall"] = name.empty() ? std::to_string(*nr) : name;
      }
    }
    out.push_back(std::move(denial));
  }
}

bool DenialBudget::allow(uint32_t key, Clock::time_point now, uint64_t& suppressed) {
  Bucket& b = buckets_[key];
  if (b.fresh) {
    b.fresh = false;
    b.tokens = burst_;
    b.last = now;
  }
  const double earned =
      std::chrono::duration<double>(now - b.last) / std::chrono::duration<double>(refill_);
  b.tokens = std::min<double>(burst_, b.tokens + std::max(0.0, earned));
  b.last = now;
  if (b.tokens < 1) {
    ++b.suppressed;
    return false;
  }
  b.tokens -= 1;
  suppressed = b.suppressed;
  b.suppressed = 0;
  return true;
}

}  // namespace plugvisor::sandbox
