#!/usr/bin/env python3
# Hand check (docs/sandbox.md), run as root after a build: the probe's namespace attempts under
# plugvisor-runner with a spec like plugvisord's, once with everything on and once with one
# namespace switched off (and fill_tmp with /tmp's size cap raised). Not part of CTest: it checks the runner itself, by hand, once.
#   tests/sandbox/removal_check.py [BUILD_DIR]   (default build/dev)
import json, os, subprocess, sys, tempfile, socket, shutil
B = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../build/dev"))
probe_src = B + "/plugins/plugvisor-escape-probe"
work = tempfile.mkdtemp(prefix="pv-removal-")
pdir = work + "/plugin"; os.makedirs(pdir); shutil.copy(probe_src, pdir)
data = work + "/data"; os.makedirs(data); os.chown(data, 200099, 200099)
probe_dir = work + "/probe"; os.makedirs(probe_dir)
os.chmod(work, 0o755)
def ino(t): return os.stat("/proc/self/ns/" + t).st_ino
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
key = 0x50580000 | (os.getpid() & 0xffff)
msgid = libc.msgget(key, 0o1000 | 0o2000 | 0o600)
inputs = {"limits": {"tmp_mb": 8}, "caps": {"tmp_mb": 64},
          "probe_dir": probe_dir, "host_hostname": socket.gethostname(), "host_msg_key": str(key),
          "host_ns": {t: ino(t) for t in ["net", "cgroup", "user", "mnt", "uts", "ipc"]}}
def spec(ns_off, tmp_bytes=8 << 20):
    ns = {k: True for k in ["user", "pid", "mount", "net", "ipc", "uts", "cgroup"]}
    if ns_off: ns[ns_off] = False
    inside = ns_off != "mount"
    exe = "/plugin/plugvisor-escape-probe" if inside else pdir + "/plugvisor-escape-probe"
    return {"plugin_id": "removal", "host_uid": 200099, "host_gid": 200099, "namespaces": ns,
        "hostname": "plugin-removal",
        "root": {"binds": [{"host": pdir, "inside": "/plugin", "rw": False},
                           {"host": data, "inside": "/data", "rw": True},
                           {"host": "/usr", "inside": "/usr", "rw": False},
                           {"host": "/etc/ld.so.cache", "inside": "/etc/ld.so.cache", "rw": False, "optional": True}],
                 "symlinks": [{"target": "usr/lib", "link": "/lib"}, {"target": "usr/lib64", "link": "/lib64"}, {"target": "usr/bin", "link": "/bin"}],
                 "devices": ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"], "tmp_bytes": tmp_bytes, "proc": True},
        "cgroup_procs": [], "rlimits": {"nofile": 256, "core": 0, "nproc": 0, "cpu_seconds": 0, "fsize_bytes": 0},
        "landlock": {"ro": ["/usr", "/plugin", "/proc", "/dev", "/etc"] + ([] if inside else [pdir]), "rw": ["/data", "/tmp"],
                     "exec": ["/plugin", "/usr/lib"] + ([] if inside else [pdir]), "deny_tcp": True,
                     "scope_signals": True, "scope_abstract_unix": True},
        "seccomp": {"allow_spawn": False},
        "exec": {"path": exe, "argv": ["plugvisor-escape-probe", "--run", "ATTEMPT", "--data", json.dumps(inputs)],
                 "env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]},
        "mechanisms": {"landlock": True, "seccomp": True, "cgroups": False, "rlimits": True}}
def run(ns_off, attempt, tmp_bytes=8 << 20):
    s = spec(ns_off, tmp_bytes); s["exec"]["argv"][2] = attempt
    r, w = os.pipe(); sr, sw = os.pipe()
    os.write(w, json.dumps(s).encode()); os.close(w)
    p = subprocess.run([B + "/plugin-runner/plugvisor-runner", "--spec-fd", str(r), "--status-fd", str(sw), "--", s["exec"]["path"]],
                       pass_fds=(r, sw), capture_output=True, text=True, timeout=30)
    os.close(r); os.close(sw)
    try:
        m = json.loads(p.stdout)["metadata"]
        return ("ESCAPED" if m["escaped"] else "blocked") + ": " + m["detail"]
    except Exception:
        return "no answer (exit %d): %s %s" % (p.returncode, p.stdout[-300:], p.stderr[-300:])
for attempt, off in [("host_mount_ns", "mount"), ("host_uts_ns", "uts"), ("host_ipc_ns", "ipc"), ("host_cgroup_ns", "cgroup")]:
    print(f"{attempt:16s} all on     : {run(None, attempt)}")
    print(f"{attempt:16s} {off:6s} off : {run(off, attempt)}")
# The tmpfs cap: /tmp at the plugin's 8 MiB, then at 1 GiB (as good as no size= at all).
print(f"{'fill_tmp':16s} capped     : {run(None, 'fill_tmp')}")
print(f"{'fill_tmp':16s} cap 1 GiB  : {run(None, 'fill_tmp', 1 << 30)}")
libc.msgctl(msgid, 0, None)
shutil.rmtree(work)
