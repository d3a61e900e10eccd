"""OS confinement of a VALOR program's process (docs/threat-model.md).

The child that runs a program calls ``confine`` after it has connected its tool channel and
before the program's first line. From then on, whatever the program does inside Python (and
Python cannot be sandboxed from inside), the kernel enforces:

- Landlock: the file system is readable only beneath the folders Python and numpy load from;
  nothing is writable and nothing can be created anywhere, the scratch folder included (so the
  disk quota is the output file's size limit: the program writes only through the output file
  opened before confinement); on ABI 4+ no TCP bind/connect; on ABI 6+ no signals to and no
  abstract Unix sockets of processes outside the sandbox.
- seccomp: no socket of any family, no connect/bind/listen/accept, no execve, no new processes
  (fork, vfork, clone without CLONE_THREAD; clone3 answers ENOSYS so threads fall back to
  clone), no ptrace or other processes' memory, no signals to anything, no namespaces, mounts,
  keyrings, BPF, perf, io_uring, module or kexec loading, no memfd (memory outside the address
  space limit). A foreign architecture is killed.
- PR_SET_NO_NEW_PRIVS, every capability dropped (when started as root), and rlimits: one
  process, few open files, no core dumps (address space, CPU and file size are set by the worker).

Everything here uses ctypes and the raw syscall numbers; nothing is left to libraries that may
be missing. ``probe`` says what this machine offers without changing anything. ``prepare``
builds the parts that are the same for every run (the Landlock ruleset, the BPF program) once,
in the warm parent before it forks; each child then only applies them.
"""
import ctypes
import errno
import os
import struct
import sys

try:
    import resource
except ImportError:  # not POSIX
    resource = None

# ---------------------------------------------------------------- constants (uapi headers)

_ARCH = {
    # machine: (AUDIT_ARCH_*, syscall numbers)
    'x86_64': (0xC000003E, {
        'socket': 41, 'connect': 42, 'accept': 43, 'bind': 49, 'listen': 50, 'socketpair': 53, 'accept4': 288,
        'clone': 56, 'fork': 57, 'vfork': 58, 'clone3': 435, 'execve': 59, 'execveat': 322, 'uselib': 134,
        'ptrace': 101, 'process_vm_readv': 310, 'process_vm_writev': 311, 'process_madvise': 440, 'kcmp': 312,
        'kill': 62, 'tkill': 200, 'tgkill': 234, 'rt_sigqueueinfo': 129, 'rt_tgsigqueueinfo': 297,
        'pidfd_open': 434, 'pidfd_send_signal': 424, 'pidfd_getfd': 438,
        'setsid': 112, 'setpgid': 109, 'unshare': 272, 'setns': 308, 'mount': 165, 'umount2': 166, 'pivot_root': 155,
        'chroot': 161, 'open_tree': 428, 'move_mount': 429, 'fsopen': 430, 'fsconfig': 431, 'fsmount': 432, 'fspick': 433,
        'mount_setattr': 442, 'mknod': 133, 'mknodat': 259, 'name_to_handle_at': 303, 'open_by_handle_at': 304,
        'bpf': 321, 'perf_event_open': 298, 'userfaultfd': 323, 'io_uring_setup': 425, 'io_uring_enter': 426,
        'io_uring_register': 427, 'keyctl': 250, 'add_key': 248, 'request_key': 249, 'kexec_load': 246,
        'kexec_file_load': 320, 'init_module': 175, 'finit_module': 313, 'delete_module': 176, 'personality': 135,
        'swapon': 167, 'swapoff': 168, 'reboot': 169, 'sethostname': 170, 'setdomainname': 171, 'iopl': 172,
        'ioperm': 173, 'acct': 163, 'quotactl': 179, 'syslog': 103, 'vhangup': 153, 'capset': 126,
        'setuid': 105, 'setgid': 106, 'setreuid': 113, 'setregid': 114, 'setresuid': 117, 'setresgid': 119, 'setgroups': 116,
        'memfd_create': 319, 'memfd_secret': 447,
    }),
    'aarch64': (0xC00000B7, {
        'socket': 198, 'connect': 203, 'accept': 202, 'bind': 200, 'listen': 201, 'socketpair': 199, 'accept4': 242,
        'clone': 220, 'clone3': 435, 'execve': 221, 'execveat': 281,
        'ptrace': 117, 'process_vm_readv': 270, 'process_vm_writev': 271, 'process_madvise': 440, 'kcmp': 272,
        'kill': 129, 'tkill': 130, 'tgkill': 131, 'rt_sigqueueinfo': 138, 'rt_tgsigqueueinfo': 240,
        'pidfd_open': 434, 'pidfd_send_signal': 424, 'pidfd_getfd': 438,
        'setsid': 157, 'setpgid': 154, 'unshare': 97, 'setns': 268, 'mount': 40, 'umount2': 39, 'pivot_root': 41,
        'chroot': 51, 'open_tree': 428, 'move_mount': 429, 'fsopen': 430, 'fsconfig': 431, 'fsmount': 432, 'fspick': 433,
        'mount_setattr': 442, 'mknodat': 33, 'name_to_handle_at': 264, 'open_by_handle_at': 265,
        'bpf': 280, 'perf_event_open': 241, 'userfaultfd': 282, 'io_uring_setup': 425, 'io_uring_enter': 426,
        'io_uring_register': 427, 'keyctl': 219, 'add_key': 217, 'request_key': 218, 'kexec_load': 104,
        'kexec_file_load': 294, 'init_module': 105, 'finit_module': 273, 'delete_module': 106, 'personality': 92,
        'swapon': 224, 'swapoff': 225, 'reboot': 142, 'sethostname': 161, 'setdomainname': 162,
        'acct': 89, 'quotactl': 60, 'syslog': 116, 'vhangup': 58, 'capset': 91,
        'setuid': 146, 'setgid': 144, 'setreuid': 145, 'setregid': 143, 'setresuid': 147, 'setresgid': 149, 'setgroups': 159,
        'memfd_create': 279, 'memfd_secret': 447,
    }),
}
# Landlock's syscalls have the same numbers on every architecture (the generic table).
_NR_LANDLOCK_CREATE_RULESET, _NR_LANDLOCK_ADD_RULE, _NR_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _PR_GET_SECCOMP, _PR_CAPBSET_DROP = 38, 22, 21, 24
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_KILL_PROCESS, _SECCOMP_RET_ERRNO, _SECCOMP_RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_CLONE_THREAD = 0x00010000
_X32_SYSCALL_BIT = 0x40000000

# BPF opcodes
_BPF_LD_W_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35      # BPF_JMP | BPF_JGE | BPF_K
_BPF_JSET_K = 0x45     # BPF_JMP | BPF_JSET | BPF_K
_BPF_RET_K = 0x06      # BPF_RET | BPF_K
# offsets in struct seccomp_data {int nr; u32 arch; u64 instruction_pointer; u64 args[6];}
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LO = 0, 4, 16

_libc = None


class SandboxError(Exception):
    """The sandbox could not be set up; the program must not run."""


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
    return _libc


def _machine():
    m = os.uname().machine.lower()
    return {'amd64': 'x86_64', 'arm64': 'aarch64'}.get(m, m)


# ---------------------------------------------------------------- probing

def landlock_abi():
    """The kernel's Landlock ABI version, or 0 (not built in, not enabled in the LSM list, not Linux)."""
    if not sys.platform.startswith('linux'):
        return 0
    try:
        v = _lib().syscall(ctypes.c_long(_NR_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    except Exception:
        return 0
    return int(v) if v > 0 else 0


def seccomp_available():
    if not sys.platform.startswith('linux') or _machine() not in _ARCH:
        return False
    try:
        return _lib().prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) >= 0
    except Exception:
        return False


def probe():
    """What this machine offers, and what is missing for the full sandbox (human-readable)."""
    abi = landlock_abi()
    sec = seccomp_available()
    missing = []
    if not sys.platform.startswith('linux'):
        missing.append('Linux (this is %s): Landlock and seccomp exist only there' % sys.platform)
    else:
        if abi < 1:
            missing.append('Landlock (Linux 5.13 or later with "landlock" in the kernel\'s lsm= list; this kernel is %s)' % os.uname().release)
        if not sec:
            missing.append('seccomp filters on %s (supported: %s)' % (_machine(), ', '.join(sorted(_ARCH))))
    return {'landlock_abi': abi, 'seccomp': sec, 'arch': _machine(), 'kernel': os.uname().release, 'missing': missing}


# ---------------------------------------------------------------- Landlock

def _readable_roots(extra):
    """Folders Python and numpy load code and data from (read-only), without broad ones."""
    home = os.path.realpath(os.path.expanduser('~')) if os.environ.get('HOME') else None
    cands = set()
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, getattr(sys, 'base_exec_prefix', sys.prefix)]:
        for sub in ('lib', 'lib64'):
            cands.add(os.path.join(p, sub))
    cands.update(p for p in sys.path if p)
    cands.update(extra)
    # Shared libraries that extension modules load lazily (and the loader's cache).
    cands.update(['/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib', '/etc/ld.so.cache'])
    out = []
    for p in sorted(cands):
        try:
            real = os.path.realpath(p)
        except OSError:
            continue
        if not os.path.exists(real) or real == '/' or (home and (real == home or home.startswith(real + os.sep))):
            continue  # never the root, the home folder itself or anything above it
        out.append(real)
    return out


def _landlock_ruleset(abi, readable):
    """A Landlock ruleset fd handling every right this ABI knows, allowing only reads beneath `readable`."""
    fs_all = (FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_CHAR
              | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM)
    if abi >= 2:
        fs_all |= FS_REFER
    if abi >= 3:
        fs_all |= FS_TRUNCATE
    if abi >= 5:
        fs_all |= FS_IOCTL_DEV
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack('=QQQ', fs_all, net, scoped)
    elif abi >= 4:
        attr = struct.pack('=QQ', fs_all, net)
    else:
        attr = struct.pack('=Q', fs_all)
    lib = _lib()
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = lib.syscall(ctypes.c_long(_NR_LANDLOCK_CREATE_RULESET), buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        raise SandboxError('landlock_create_ruleset failed: %s' % os.strerror(ctypes.get_errno()))
    try:
        for path in readable:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                # A rule on a file may only carry file rights.
                access = FS_READ_FILE | FS_READ_DIR if os.path.isdir(path) else FS_READ_FILE
                rule = ctypes.create_string_buffer(struct.pack('=Qi', access, pfd), 12)
                r = lib.syscall(ctypes.c_long(_NR_LANDLOCK_ADD_RULE), ctypes.c_int(fd), ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0))
                if r < 0:
                    raise SandboxError('landlock_add_rule(%s) failed: %s' % (path, os.strerror(ctypes.get_errno())))
            finally:
                os.close(pfd)
    except BaseException:
        os.close(fd)
        raise
    return fd, {'fs': True, 'tcp': bool(net), 'scoped': bool(scoped)}


def _landlock_restrict(fd):
    if _lib().syscall(ctypes.c_long(_NR_LANDLOCK_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)) < 0:
        raise SandboxError('landlock_restrict_self failed: %s' % os.strerror(ctypes.get_errno()))


# ---------------------------------------------------------------- seccomp

def _bpf(code, jt, jf, k):
    return struct.pack('=HBBI', code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(arch_name):
    """The filter as bytes of struct sock_filter: deny-listed syscalls get EPERM, clone only for threads."""
    audit_arch, nrs = _ARCH[arch_name]
    eperm = _SECCOMP_RET_ERRNO | errno.EPERM
    enosys = _SECCOMP_RET_ERRNO | errno.ENOSYS
    denied = sorted({nr for name, nr in nrs.items() if name not in ('clone', 'clone3')})
    ins = [
        _bpf(_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        _bpf(_BPF_JEQ_K, 1, 0, audit_arch),
        _bpf(_BPF_RET_K, 0, 0, _SECCOMP_RET_KILL_PROCESS),
        _bpf(_BPF_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if arch_name == 'x86_64':
        # The x32 ABI reaches the same kernel functions under other numbers: refuse it whole.
        ins.append(_bpf(_BPF_JGE_K, 0, 1, _X32_SYSCALL_BIT))
        ins.append(_bpf(_BPF_RET_K, 0, 0, eperm))
    ins.append(_bpf(_BPF_JEQ_K, 0, 1, nrs['clone3']))
    ins.append(_bpf(_BPF_RET_K, 0, 0, enosys))
    ins.append(_bpf(_BPF_JEQ_K, 0, 4, nrs['clone']))
    ins.append(_bpf(_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LO))
    ins.append(_bpf(_BPF_JSET_K, 0, 1, _CLONE_THREAD))
    ins.append(_bpf(_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    ins.append(_bpf(_BPF_RET_K, 0, 0, eperm))
    for nr in denied:
        ins.append(_bpf(_BPF_JEQ_K, 0, 1, nr))
        ins.append(_bpf(_BPF_RET_K, 0, 0, eperm))
    ins.append(_bpf(_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    return b''.join(ins), len(ins)


class _SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


def _seccomp(prog):
    if _lib().prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise SandboxError('installing the seccomp filter failed: %s' % os.strerror(ctypes.get_errno()))


# ---------------------------------------------------------------- capabilities and limits

def _drop_capabilities():
    """A process started as root keeps root's capabilities (DAC override, ...): drop them all."""
    lib = _lib()
    for cap in range(64):
        if lib.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    # capset(header {version 3, pid 0}, data[2] all zero): effective, permitted, inheritable empty.
    header = ctypes.create_string_buffer(struct.pack('=Ii', 0x20080522, 0), 8)
    data = ctypes.create_string_buffer(24)
    if lib.syscall(ctypes.c_long(_ARCH[_machine()][1]['capset']), header, data) != 0:
        raise SandboxError('dropping capabilities failed: %s' % os.strerror(ctypes.get_errno()))


def _limits(max_open_files):
    if resource is None:
        return
    wanted = [(resource.RLIMIT_NPROC, 1), (resource.RLIMIT_NOFILE, max_open_files), (resource.RLIMIT_CORE, 0)]
    if hasattr(resource, 'RLIMIT_MEMLOCK'):
        wanted.append((resource.RLIMIT_MEMLOCK, 0))
    for which, value in wanted:
        try:
            soft, hard = resource.getrlimit(which)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (cap, cap))
        except (ValueError, OSError):
            pass


# ---------------------------------------------------------------- the whole thing

class Prepared:
    """What every run's confinement shares: made once (in the warm parent), applied per child."""

    def __init__(self, extra_readable=()):
        self.info = probe()
        if self.info['missing']:
            raise SandboxError('the OS sandbox is not available: ' + '; '.join(self.info['missing']))
        arch = _machine()
        code, n = seccomp_program(arch)
        self._bpf = ctypes.create_string_buffer(code, len(code))
        self.prog = _SockFprog(n, ctypes.cast(self._bpf, ctypes.c_void_p))
        readable = _readable_roots(extra_readable) + ['/dev/null', '/dev/urandom']
        self.ruleset_fd, self.landlock = _landlock_ruleset(self.info['landlock_abi'], readable)


_prepared = None


def prepare(extra_readable=()):
    """The shared parts, made once per process (call before forking children)."""
    global _prepared
    if _prepared is None:
        _prepared = Prepared(extra_readable)
    return _prepared


def kept_fds():
    """Descriptors a child must keep open until it confines itself."""
    return [_prepared.ruleset_fd] if _prepared is not None else []


def confine(max_open_files=32):
    """Confines this process for good (see the module docstring). Raises SandboxError if any
    layer cannot be installed; the caller must then not run the program."""
    p = prepare()
    _limits(max_open_files)
    if _lib().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SandboxError('PR_SET_NO_NEW_PRIVS failed: %s' % os.strerror(ctypes.get_errno()))
    _landlock_restrict(p.ruleset_fd)
    os.close(p.ruleset_fd)
    if os.geteuid() == 0 or os.getuid() == 0:
        _drop_capabilities()
    _seccomp(p.prog)
    return {'landlock_abi': p.info['landlock_abi'], 'landlock': p.landlock, 'seccomp': True}
