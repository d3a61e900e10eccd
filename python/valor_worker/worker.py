"""The Python side of VALOR's program runner (src/core/runner/): runs one generated program per child.

Started by the runner as ``python3 worker.py MODE CONFIG_JSON``. Two modes:

- ``warm``: a parent that imports numpy once, then reads run requests (one JSON object a line)
  on stdin and forks a fresh child per run, reporting ``started`` / ``exit`` events on stdout.
- ``cold``: one run; the request arrives as one JSON line on stdin.

CONFIG_JSON carries what the TypeScript side owns (the tools' parameter table and the modules a
program may import); every run request carries the same table, so a child never depends on what
its parent was started with. The child that runs the program talks to TypeScript over its own
Unix socket (path in the request), line-delimited JSON: ``call`` -> ``result``, then ``done``.
The program's own output goes to a file (fds 1 and 2 and ``sys.stdout``/``sys.stderr``), never
to a protocol channel. Before the program runs, the child confines itself (sandbox.py).
"""
import sys

# The script's own folder is first on sys.path: take what we need from it, then drop it (and
# the working directory) so a program can never import from there.
_HERE = sys.path[0] if sys.path else ''
import sandbox  # noqa: E402  (our own modules, next to this file)
import linetrace  # noqa: E402  (the debugger's line trace, next to this file)
from program import (  # noqa: E402
    PROGRAM_FILE,
    WRAPPER_NAME,
    _Channel,
    _Reject,
    _State,
    _describe,
    _on_alarm,
    _prepare,
    _program_builtins,
    _safe_repr,
    _to_json,
    _tool_functions,
    set_numpy,
)
sys.path[:] = [p for p in sys.path if p not in ('', '.', _HERE)]
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402

try:
    import resource
except ImportError:
    resource = None

MAX_ANSWER_JSON = 1 << 20
np = None


def _fatal(kind, message):
    sys.stderr.write(json.dumps({'fatal': kind, 'message': message}) + '\n')
    sys.stderr.flush()
    os._exit(3)


def _import_numpy():
    global np
    try:
        import numpy
    except Exception as e:
        _fatal('numpy-missing', 'numpy could not be imported by %s (%s: %s)' % (sys.executable, type(e).__name__, e))
    np = numpy
    set_numpy(numpy)


def _die_with_parent():
    # Linux only: the kernel kills us when the process that started us goes away, so no program
    # outlives a crashed runner. Best effort elsewhere.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


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


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ---------------------------------------------------------------- the child

class _BoundedOut:
    """sys.stdout/sys.stderr of the program: writes to the output file until the budget is spent."""
    encoding = 'utf-8'
    errors = 'replace'

    def __init__(self, fd, limit):
        self.fd, self.left, self.truncated = fd, limit, False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError('write() argument must be str, not %s' % type(s).__name__)
        if not s:
            return 0
        if self.left <= 0:
            self.truncated = True
            return len(s)
        data = s.encode('utf-8', 'replace')
        if len(data) > self.left:
            data = data[:self.left].decode('utf-8', 'ignore').encode('utf-8')
            self.truncated = True
            self.left = 0
        else:
            self.left -= len(data)
        try:
            _write_all(self.fd, data)
        except OSError:
            self.truncated = True
            self.left = 0
        return len(s)

    def writelines(self, items):
        for s in items:
            self.write(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True


def _setup_child(req):
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader (cold mode: started detached)
    _die_with_parent()
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    if hasattr(signal, 'SIGXFSZ'):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    out_fd = os.open(req['stdout_path'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    keep = sorted(sandbox.kept_fds())
    lo = 3
    for fd in keep:
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 16)
    os.chdir(req['cwd'])
    if resource is not None:
        mem = int(req['memory_mb']) * 1024 * 1024
        limits = [(resource.RLIMIT_AS, mem), (resource.RLIMIT_FSIZE, int(req['max_stdout']) + (1 << 20)), (resource.RLIMIT_CORE, 0),
                  (resource.RLIMIT_CPU, int(math.ceil(req['timeout_s'])) + 2)]
        for which, value in limits:
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass
    out = _BoundedOut(1, int(req['max_stdout']))
    sys.stdout = sys.stderr = out
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(req['socket'])
    chan = _Channel(sock)
    if req.get('isolation', 'sandbox') == 'sandbox':
        # From here on the kernel holds the program in; if that cannot be done, it does not run.
        try:
            sandbox.confine()
        except Exception as e:
            chan.send({'t': 'done', 'ok': False, 'error': {'type': 'SandboxError', 'message': 'the program was not run: %s' % e, 'line': None}})
            os._exit(0)
    return chan, out


def _run_program(req, out):
    source = req['program']
    lines = source.splitlines()
    img_pth = req['img_pth']
    try:
        code, _State.call_vars, _State.line_vars = _prepare(source)
    except _Reject as r:
        return {'ok': False, 'error': {'type': r.type, 'message': r.message, 'line': r.line}, 'img_pth_reassigned': r.type == 'ImgPthReassigned'}

    import random
    random.seed(0)
    np.random.seed(0)
    captured = {}
    g = {'__builtins__': _program_builtins(), '__name__': '__valor__', 'math': math, 'np': np,
         '__valor_capture__': captured.update, '__valor_locals__': locals}
    g.update(_tool_functions(_State.tools))
    reserve = bytearray(1 << 20)  # given back on MemoryError so reporting it still works
    error = None
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.001, float(req['timeout_s'])))
    if req.get('line_trace'):
        _State.tracer = linetrace.LineTracer(PROGRAM_FILE, _State.analysis, len(lines), np)
    try:
        try:
            exec(code, g)
            if _State.tracer is not None:
                _State.tracer.start()
            try:
                g[WRAPPER_NAME](img_pth)
            finally:
                if _State.tracer is not None:
                    _State.tracer.stop()
        except MemoryError as e:
            reserve = None
            error = _describe(e, lines, req)
        except BaseException as e:
            error = _describe(e, lines, req)
        del reserve
        result = {'ok': False, 'img_pth_reassigned': False}
        if error is None:
            if captured.get('img_pth', img_pth) != img_pth:
                result['img_pth_reassigned'] = True
                error = {'type': 'ImgPthReassigned', 'message': 'the program changed img_pth; it must not be reassigned', 'line': None}
            elif 'final_answer' in captured or 'final_answer' in g:
                answer = captured['final_answer'] if 'final_answer' in captured else g['final_answer']
                value = _to_json(answer)
                text = json.dumps(value)
                if len(text) > MAX_ANSWER_JSON:
                    value = '<final_answer too large: %d bytes of JSON> %s' % (len(text), _safe_repr(answer)[:4096])
                result['ok'] = True
                result['final_answer'] = value
            else:
                error = {'type': 'NoFinalAnswer', 'message': 'the program finished without setting final_answer; assign the answer to final_answer before the end (and before any early return)', 'line': None}
    except BaseException as e:
        error = _describe(e, lines, req)
        result = {'ok': False, 'img_pth_reassigned': False}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    result['error'] = error
    result['stdout_truncated'] = out.truncated
    if _State.tracer is not None:
        try:
            result['line_trace'] = _State.tracer.record()
        except Exception:
            pass
    return result


def child_main(req):
    _State.tools = {str(k): list(v) for k, v in req['tools'].items()}
    _State.allowed_modules = frozenset(req['allowed_modules'])
    chan, out = _setup_child(req)
    _State.chan = chan
    try:
        result = _run_program(req, out)
    except BaseException as e:
        result = {'ok': False, 'error': {'type': 'WorkerError', 'message': 'the runner failed: %s: %s' % (type(e).__name__, e), 'line': None}}
    result['t'] = 'done'
    try:
        chan.send(result)
    except BaseException:
        pass
    os._exit(0)


# ---------------------------------------------------------------- the warm parent

def _emit(obj):
    _write_all(1, (json.dumps(obj) + '\n').encode('utf-8'))


def parent_main(config):
    _die_with_parent()
    # Modules programs may import are loaded once here; the children inherit them.
    for name in sorted(config.get('allowed_modules', [])):
        try:
            __import__(name)
        except Exception:
            pass
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


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else 'cold'
    config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    _import_numpy()
    if config.get('isolation', 'sandbox') == 'sandbox':
        missing = sandbox.probe()['missing']
        if missing:
            _fatal('sandbox-unavailable', 'the OS sandbox for programs is not available here: missing %s' % '; '.join(missing))
        try:
            sandbox.prepare()  # once here; every child (warm) or this process (cold) applies it
        except sandbox.SandboxError as e:
            _fatal('sandbox-unavailable', 'the OS sandbox for programs could not be set up: %s' % e)
    if mode == 'warm':
        parent_main(config)
    else:
        req = json.loads(sys.stdin.readline())
        child_main(req)


if __name__ == '__main__':
    main()
