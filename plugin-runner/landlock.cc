#include "landlock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "plugvisor/common/unique_fd.h"
#include "status.h"

namespace plugvisor::runner {

namespace {

// The kernel's Landlock ABI, spelled out here because the installed <linux/landlock.h> (6.1)
// stops at ABI 2. Values are fixed by the kernel's UAPI.
constexpr uint32_t kCreateRulesetVersion = 1U << 0;
constexpr int kRulePathBeneath = 1;
constexpr uint32_t kRestrictSelfLogNewExecOn = 1U << 1;  // ABI 7

constexpr uint64_t kFsExecute = 1ULL << 0;
constexpr uint64_t kFsWriteFile = 1ULL << 1;
constexpr uint64_t kFsReadFile = 1ULL << 2;
constexpr uint64_t kFsReadDir = 1ULL << 3;
constexpr uint64_t kFsRemoveDir = 1ULL << 4;
constexpr uint64_t kFsRemoveFile = 1ULL << 5;
constexpr uint64_t kFsMakeChar = 1ULL << 6;
constexpr uint64_t kFsMakeDir = 1ULL << 7;
constexpr uint64_t kFsMakeReg = 1ULL << 8;
constexpr uint64_t kFsMakeSock = 1ULL << 9;
constexpr uint64_t kFsMakeFifo = 1ULL << 10;
constexpr uint64_t kFsMakeBlock = 1ULL << 11;
constexpr uint64_t kFsMakeSym = 1ULL << 12;
constexpr uint64_t kFsRefer = 1ULL << 13;     // ABI 2
constexpr uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5

constexpr uint64_t kNetBindTcp = 1ULL << 0;     // ABI 4
constexpr uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4

constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;              // ABI 6

struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI 4; older kernels accept the larger struct if it is 0
  uint64_t scoped;              // ABI 6; likewise
};

struct PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

// Rights that make sense on something that is not a directory.
constexpr uint64_t kFileRights =
    kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;

constexpr uint64_t kRead = kFsReadFile | kFsReadDir;
constexpr uint64_t kWrite = kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeDir | kFsMakeReg |
                            kFsMakeSock | kFsMakeFifo | kFsMakeSym | kFsTruncate;

uint64_t handled_fs_rights(int abi) {
  uint64_t rights = kFsExecute | kFsWriteFile | kFsReadFile | kFsReadDir | kFsRemoveDir |
                    kFsRemoveFile | kFsMakeChar | kFsMakeDir | kFsMakeReg | kFsMakeSock |
                    kFsMakeFifo | kFsMakeBlock | kFsMakeSym;
  if (abi >= 2) rights |= kFsRefer;
  if (abi >= 3) rights |= kFsTruncate;
  if (abi >= 5) rights |= kFsIoctlDev;
  return rights;
}

void allow_path(int ruleset, const std::string& path, uint64_t rights, uint64_t handled) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return;
    fail("landlock", errno, path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail("landlock", errno, path);
  if (!S_ISDIR(st.st_mode)) rights &= kFileRights;
  PathBeneathAttr attr{rights & handled, fd.get()};
  if (attr.allowed_access == 0) return;
  if (::syscall(SYS_landlock_add_rule, ruleset, kRulePathBeneath, &attr, 0) != 0) {
    fail("landlock", errno, "add_rule " + path);
  }
}

}  // namespace

int landlock_abi() {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

void apply_landlock(const Spec& spec) {
  const int abi = landlock_abi();
  if (abi < 1) fail("landlock", ENOSYS, "Landlock is not available");

  RulesetAttr attr{handled_fs_rights(abi), 0, 0};
  if (abi >= 4 && spec.landlock.deny_tcp) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 6 && spec.landlock.scope_signals) attr.scoped |= kScopeSignal;
  if (abi >= 6 && spec.landlock.scope_abstract_unix) attr.scoped |= kScopeAbstractUnixSocket;

  UniqueFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  if (!ruleset) fail("landlock", errno, "create_ruleset");

  const uint64_t handled = attr.handled_access_fs;
  for (const auto& p : spec.landlock.ro) allow_path(ruleset.get(), p, kRead, handled);
  for (const auto& p : spec.landlock.rw) allow_path(ruleset.get(), p, kRead | kWrite, handled);
  for (const auto& p : spec.landlock.exec) {
    allow_path(ruleset.get(), p, kFsExecute | kRead, handled);
  }
  for (const auto& p : spec.devices) {
    allow_path(ruleset.get(), p, kFsReadFile | kFsWriteFile, handled);
  }
  // No TCP port rules: with deny_tcp every bind and connect is refused.

  const uint32_t flags = abi >= 7 && spec.landlock.log_denials ? kRestrictSelfLogNewExecOn : 0;
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), flags) != 0) {
    fail("landlock", errno, "restrict_self");
  }
}

}  // namespace plugvisor::runner
