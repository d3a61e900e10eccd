"""The child that runs one VALOR program (forked by the warm parent, parent.py, or the whole
process in cold mode): it starts its own session, points fds 1 and 2 at the output file (bounded),
closes every other descriptor, sets its resource limits, connects to the run's socket, confines
itself (sandbox.py), runs the program (program.py) under the time limit and sends ``done``.
"""
import json
import math
import os
import signal
import socket
import sys

import linetrace  # the debugger's line trace, next to this file
import program
import sandbox
from processes import die_with_parent, write_all
from program import (
    PROGRAM_FILE,
    WRAPPER_NAME,
    _Channel,
    _describe,
    _on_alarm,
    _prepare,
    _program_builtins,
    _Reject,
    _safe_repr,
    _State,
    _to_json,
    _tool_functions,
)

try:
    import resource
except ImportError:
    resource = None

MAX_ANSWER_JSON = 1 << 20


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
            write_all(self.fd, data)
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
    die_with_parent()
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
    np = program.np  # numpy, imported once by worker.py
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
