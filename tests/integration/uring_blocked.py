"""When io_uring is blocked (as by a container's seccomp profile), sluice exits at
once with a message naming the cause and the fix. The test installs a real
seccomp filter that makes io_uring_setup fail with EPERM."""
import ctypes
import os
import platform
import struct
import subprocess
import sys

from common import SLUICE, check, ok, tmpdir, write

if platform.machine() != "x86_64":
    print("skip: the seccomp filter here is written for x86_64")
    sys.exit(77)

NR_IO_URING_SETUP = 425
AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1


def stmt(code, k):
    return struct.pack("HBBI", code, 0, 0, k)


def jump(code, k, jt, jf):
    return struct.pack("HBBI", code, jt, jf, k)


BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
prog = b"".join([
    stmt(BPF_LD_W_ABS, 4),                      # arch
    jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
    stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    stmt(BPF_LD_W_ABS, 0),                      # syscall number
    jump(BPF_JEQ_K, NR_IO_URING_SETUP, 0, 1),
    stmt(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM),
    stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
])


def block_io_uring():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        os._exit(90)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0) != 0:
        os._exit(91)


d = tmpdir("uring")
job = write(os.path.join(d, "job.yaml"), f"""
sources:
  gen: {{type: generator, records: 10}}
sinks:
  out: {{from: gen, type: blackhole}}
""")
p = subprocess.run([SLUICE, "run", job], preexec_fn=block_io_uring, capture_output=True,
                   text=True, timeout=30)
check(p.returncode not in (90, 91), "could not install the seccomp filter")
check(p.returncode == 1, f"exit {p.returncode}, stderr:\n{p.stderr}")
check("io_uring_setup is not permitted" in p.stderr and "seccomp" in p.stderr and "Fix:" in p.stderr,
      f"message lacks cause and fix:\n{p.stderr}")
ok("blocked io_uring: " + p.stderr.strip().splitlines()[-1][:120])
