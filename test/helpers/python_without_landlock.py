"""Runs python3 as if the kernel had no Landlock: a seccomp filter answers the Landlock syscalls
with ENOSYS (what a kernel without it says), then the real python3 is exec'd with our arguments.
Used by the sandbox tests to see the runner refuse to run programs without its OS layer."""
import ctypes
import os
import struct
import sys

ENOSYS = 38
ld_nr = struct.pack('=HBBI', 0x20, 0, 0, 0)
checks = b''.join(struct.pack('=HBBI', 0x15, 0, 1, nr) + struct.pack('=HBBI', 0x06, 0, 0, 0x00050000 | ENOSYS) for nr in (444, 445, 446))
allow = struct.pack('=HBBI', 0x06, 0, 0, 0x7FFF0000)
code = ld_nr + checks + allow
buf = ctypes.create_string_buffer(code, len(code))


class Prog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(Prog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))), 0, 0) != 0:
    sys.exit('could not install the filter: %s' % os.strerror(ctypes.get_errno()))
os.execvp('python3', ['python3'] + sys.argv[1:])
