"""The warm parent of VALOR's program runner (``worker.py warm``): it imports numpy and the modules
programs may import once, then reads run requests (one JSON object a line) on stdin and forks a
fresh child per run (child.py), reporting ``ready``, ``started`` and ``exit`` events on stdout.
With isolation ``process`` it is the subreaper of its children's orphans and kills what a run
leaves behind; when stdin closes it kills every run and exits.
"""
import json
import os
import select
import signal
import sys

import program
import sandbox
from child import child_main
from processes import die_with_parent, write_all


def _become_subreaper():
    # Linux only: orphans of our children (a double fork, a new session) become our children
    # instead of init's, so the worker can find and kill them (isolation "process"; a sandboxed
    # program cannot start processes at all).
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except Exception:
        return False


def _strays(known):
    """pids whose parent is this process but which are no run's process: left behind by a run."""
    me, out = os.getpid(), []
    try:
        # The kernel's own list of our children (one small read); the /proc walk is the fallback.
        with open('/proc/self/task/%d/children' % me, 'rb') as f:
            return [int(p) for p in f.read().split() if int(p) not in known]
    except (OSError, ValueError):
        pass
    try:
        names = os.listdir('/proc')
    except OSError:
        return out
    for name in names:
        if not name.isdigit() or int(name) in known:
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b')') + 2:].split()
        if len(fields) > 1 and int(fields[1]) == me:
            out.append(int(name))
    return out


def _emit(obj):
    write_all(1, (json.dumps(obj) + '\n').encode('utf-8'))


def parent_main(config):
    die_with_parent()
    # Modules programs may import are loaded once here; the children inherit them.
    for name in sorted(config.get('allowed_modules', [])):
        try:
            __import__(name)
        except Exception:
            pass
    np = program.np  # numpy, imported once by worker.py
    np.random.seed(0)  # numpy.random loads lazily and its first seeding is slow; pay it here once
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    signal.set_wakeup_fd(wake_w)
    reap_strays = config.get('isolation') == 'process' and _become_subreaper()
    children = {}
    buf = b''
    _emit({'ev': 'ready', 'pid': os.getpid(), 'python': sys.version.split()[0], 'numpy': np.__version__, 'sandbox': sandbox.probe()})
    while True:
        try:
            readable, _, _ = select.select([0, wake_r], [], [])
        except InterruptedError:
            readable = []
        if wake_r in readable:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            run_id = children.pop(pid, None)
            if run_id is None:
                continue  # a stray we killed, now reaped
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            _emit({'ev': 'exit', 'id': run_id, 'pid': pid, 'code': code, 'signal': sig})
            if reap_strays:
                # Whatever the run left behind has been handed to us by now: kill it.
                for stray in _strays(children):
                    for target in (-stray, stray):
                        try:
                            os.kill(target, signal.SIGKILL)
                        except OSError:
                            pass
        if 0 in readable:
            data = os.read(0, 1 << 20)
            if not data:
                for pid in list(children):
                    for target in (-pid, pid):
                        try:
                            os.kill(target, signal.SIGKILL)
                        except OSError:
                            pass
                os._exit(0)
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                if not line.strip():
                    continue
                req = json.loads(line)
                if req.get('op') != 'run':
                    continue
                pid = os.fork()
                if pid == 0:
                    try:
                        signal.set_wakeup_fd(-1)
                        child_main(req)
                    finally:
                        os._exit(70)
                children[pid] = req['id']
                _emit({'ev': 'started', 'id': req['id'], 'pid': pid})
