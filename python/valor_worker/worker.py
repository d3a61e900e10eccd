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
import sandbox  # noqa: E402  (our own module, next to this file)
import linetrace  # noqa: E402  (the debugger's line trace, next to this file)
sys.path[:] = [p for p in sys.path if p not in ('', '.', _HERE)]
import ast  # noqa: E402
import builtins  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import traceback  # noqa: E402

try:
    import resource
except ImportError:
    resource = None

PROGRAM_FILE = '<program>'
WRAPPER_NAME = '__valor_program__'
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


# ---------------------------------------------------------------- tools (shared by every run)

class _State:
    chan = None
    call_vars = {}
    line_vars = {}
    # From the run request: {tool name: [parameter names]} and the importable module roots.
    tools = {}
    allowed_modules = frozenset()
    # The line trace (linetrace.py) when the request asks for one, and the tool calls sent so far.
    tracer = None
    calls_sent = 0
    analysis = ({}, [])


class _Channel:
    def __init__(self, sock):
        self.sock = sock
        self.rfile = sock.makefile('rb')

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode('utf-8') + b'\n')

    def recv(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError('the runner closed the tool channel')
        return json.loads(line)


_EXC_CLASSES = {}


def _exception_class(name):
    if not isinstance(name, str) or not name.isidentifier():
        name = 'ToolError'
    b = getattr(builtins, name, None)
    if isinstance(b, type) and issubclass(b, Exception):
        return b
    cls = _EXC_CLASSES.get(name)
    if cls is None:
        cls = type(name, (Exception,), {'__module__': 'valor'})
        _EXC_CLASSES[name] = cls
    return cls


def _call_site():
    f = sys._getframe(3)
    while f is not None and f.f_code.co_filename != PROGRAM_FILE:
        f = f.f_back
    if f is None:
        return None, None
    line, col = f.f_lineno, None
    try:
        pos = list(f.f_code.co_positions())[f.f_lasti // 2]
        if pos[0] is not None:
            line, col = pos[0], pos[2]
    except Exception:
        pass
    return line, col


def _tool_call(tool, args):
    line, col = _call_site()
    variable = _State.call_vars.get((line, col))
    if variable is None:
        variable = _State.line_vars.get(line)
    _State.chan.send({'t': 'call', 'tool': tool, 'args': {k: _to_json(v) for k, v in args.items()}, 'line': line, 'variable': variable})
    if _State.tracer is not None:
        _State.tracer.note_call(_State.calls_sent)
    _State.calls_sent += 1
    reply = _State.chan.recv()
    if reply.get('ok'):
        return reply.get('value')
    raise _exception_class(reply.get('type'))(reply.get('message', 'the tool failed'))


def _tool_functions(table):
    """One Python function per tool, with the real parameter names (so a wrong call gets Python's
    own TypeError), all forwarding to _tool_call. The names come from the runner's table and are
    checked to be identifiers before any text is compiled."""
    src = []
    for name, params in table.items():
        if not name.isidentifier() or not all(isinstance(p, str) and p.isidentifier() for p in params):
            raise ValueError('bad tool table entry %r' % (name,))
        args = ', '.join("'%s': %s" % (p, p) for p in params)
        src.append('def %s(%s):\n    return _tool_call(%r, {%s})\n' % (name, ', '.join(params), name, args))
    ns = {'_tool_call': _tool_call}
    exec(compile('\n'.join(src), '<valor tools>', 'exec'), ns)
    return {name: ns[name] for name in table}

# ---------------------------------------------------------------- values

def _safe_repr(v):
    try:
        return repr(v)
    except BaseException as e:
        return '<unrepresentable %s: %s>' % (type(v).__name__, type(e).__name__)


def _to_json(v, depth=0):
    if depth > 64:
        return _safe_repr(v)[:1000]
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else repr(v)
    if np is not None:
        if isinstance(v, np.generic):
            try:
                return _to_json(v.item(), depth + 1)
            except Exception:
                return _safe_repr(v)
        if isinstance(v, np.ndarray):
            return _to_json(v.tolist(), depth + 1)
    if isinstance(v, (list, tuple)):
        return [_to_json(x, depth + 1) for x in v]
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else _safe_repr(k)): _to_json(x, depth + 1) for k, x in v.items()}
    return _safe_repr(v)


# ---------------------------------------------------------------- restricted builtins
# Defence in depth only: the real boundary is the separate process with its limits (address
# space, CPU, file size, wall clock, scrubbed environment, scratch directory, killed as a group).
# Python cannot be sandboxed from inside; these rules just stop the obvious and the accidental.

def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    root = name.partition('.')[0]
    allowed = _State.allowed_modules
    if level != 0 or root not in allowed:
        raise ImportError("module '%s' is not available to VALOR programs (allowed: %s)" % (root or name, ', '.join(sorted(allowed))), name=root)
    return __import__(name, globals, locals, fromlist, level)


# Attribute names that lead from an object to frames, code or module globals (and from there to
# the worker's own modules). Names starting with '_' are reserved too, except two harmless ones.
_INTROSPECTION_ATTRS = frozenset(['f_back', 'f_globals', 'f_locals', 'f_builtins', 'f_code', 'gi_frame', 'gi_code',
                                  'cr_frame', 'cr_code', 'ag_frame', 'ag_code', 'tb_frame', 'tb_next', 'co_consts'])
_ALLOWED_DUNDERS = frozenset(['__name__', '__doc__'])


def _attr_forbidden(name):
    return isinstance(name, str) and ((name.startswith('_') and name not in _ALLOWED_DUNDERS) or name in _INTROSPECTION_ATTRS)


def _check_attr_name(name):
    if _attr_forbidden(name):
        raise AttributeError("attribute '%s' is not available to VALOR programs" % name)


def _guarded_getattr(obj, name, *default):
    _check_attr_name(name)
    return getattr(obj, name, *default)


def _guarded_setattr(obj, name, value):
    _check_attr_name(name)
    return setattr(obj, name, value)


def _guarded_delattr(obj, name):
    _check_attr_name(name)
    return delattr(obj, name)


_REMOVED_BUILTINS = {'open', 'exec', 'eval', 'compile', 'input', 'breakpoint', 'globals', 'locals', 'vars',
                     'help', 'exit', 'quit', 'copyright', 'credits', 'license', '__loader__', '__spec__'}


def _program_builtins():
    b = {k: v for k, v in builtins.__dict__.items() if k not in _REMOVED_BUILTINS}
    b['__import__'] = _guarded_import
    b['getattr'] = _guarded_getattr
    b['setattr'] = _guarded_setattr
    b['delattr'] = _guarded_delattr
    return b


# ---------------------------------------------------------------- preparing the program

class _Reject(Exception):
    def __init__(self, type_, message, line):
        Exception.__init__(self, message)
        self.type, self.message, self.line = type_, message, line


def _binds_img_pth(node):
    if isinstance(node, ast.Name) and node.id == 'img_pth' and isinstance(node.ctx, (ast.Store, ast.Del)):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == 'img_pth':
        return True
    if isinstance(node, ast.ExceptHandler) and node.name == 'img_pth':
        return True
    if isinstance(node, ast.alias) and (node.asname or node.name.partition('.')[0]) == 'img_pth':
        return True
    return False


def _top_level_yield(body):
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return None


def _prepare(source):
    try:
        tree = ast.parse(source, PROGRAM_FILE, 'exec')
    except SyntaxError as e:
        line = e.lineno
        where = (' (line %d, column %d)' % (line, e.offset or 0)) if line else ''
        raise _Reject('SyntaxError', '%s%s' % (e.msg, where), line)
    except ValueError as e:
        raise _Reject('SyntaxError', str(e), None)

    offenders = sorted((getattr(n, 'lineno', None) or 0) for n in ast.walk(tree) if _binds_img_pth(n))
    if offenders:
        line = offenders[0] or None
        where = ' on line %d' % line if line else ''
        raise _Reject('ImgPthReassigned', 'the program assigns to img_pth%s; img_pth is the image path given to the program and must not be changed (use another variable name)' % where, line)

    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and _attr_forbidden(n.attr):
            raise _Reject('ForbiddenAttribute', "attribute '%s' is not available to VALOR programs (line %d); programs work with the tools' results, numbers, lists and dicts" % (n.attr, n.lineno), n.lineno)

    y = _top_level_yield(tree.body)
    if y is not None:
        raise _Reject('SyntaxError', "'yield' outside function (line %d, column %d)" % (y.lineno, y.col_offset + 1), y.lineno)

    call_vars, per_line = {}, {}
    for n in ast.walk(tree):
        target = None
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
            target = n.targets[0].id
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value is not None:
            target = n.target.id
        if target is None:
            continue
        call = n.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in _State.tools:
            call_vars[(call.lineno, call.col_offset)] = target
            per_line.setdefault(call.lineno, []).append(target)
    line_vars = {line: names[0] for line, names in per_line.items() if len(names) == 1}
    _State.analysis = linetrace.analyse(tree)

    # The body becomes a function so a top-level return works; its statements keep their own
    # line numbers, and a finally hands the function's locals back (final_answer, img_pth).
    capture = ast.Expr(ast.Call(ast.Name('__valor_capture__', ast.Load()), [ast.Call(ast.Name('__valor_locals__', ast.Load()), [], [])], []))
    wrapped = ast.Try(body=tree.body or [ast.Pass()], handlers=[], orelse=[], finalbody=[capture])
    args = ast.arguments(posonlyargs=[], args=[ast.arg('img_pth')], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    fn = ast.FunctionDef(name=WRAPPER_NAME, args=args, body=[wrapped], decorator_list=[], returns=None, type_comment=None)
    if 'type_params' in ast.FunctionDef._fields:
        fn.type_params = []
    # Past the program's last line, so the line trace never counts the wrapper as a program line.
    after = len(source.splitlines()) + 1
    for node in (capture, wrapped, fn):
        node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = after, 0, after, 0
    module = ast.Module(body=[fn], type_ignores=[])
    ast.fix_missing_locations(module)
    try:
        code = compile(module, PROGRAM_FILE, 'exec')
    except SyntaxError as e:
        line = e.lineno
        where = (' (line %d, column %d)' % (line, e.offset or 0)) if line else ''
        raise _Reject('SyntaxError', '%s%s' % (e.msg, where), line)
    return code, call_vars, line_vars


# ---------------------------------------------------------------- errors

class _ProgramTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _ProgramTimeout()


def _program_frames(tb):
    out = []
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == PROGRAM_FILE:
            name = frame.f_code.co_name
            out.append((lineno, '<program>' if name == WRAPPER_NAME else name))
    return out


def _format_traceback(frames, lines, head):
    shown = frames
    if len(frames) > 24:
        shown = frames[:10] + [None] + frames[-10:]
    parts = ['Traceback (most recent call last):']
    for item in shown:
        if item is None:
            parts.append('  ... %d more frames ...' % (len(frames) - 20))
            continue
        lineno, name = item
        parts.append('  line %d, in %s' % (lineno, name))
        if lineno and 1 <= lineno <= len(lines):
            text = lines[lineno - 1].strip()
            if text:
                parts.append('    ' + text)
    parts.append(head)
    return '\n'.join(parts)


def _describe(exc, lines, req):
    frames = _program_frames(exc.__traceback__)
    line = frames[-1][0] if frames else None
    at = (' (at line %d)' % line) if line else ''
    if isinstance(exc, _ProgramTimeout):
        type_ = 'Timeout'
        message = 'the program did not finish within its %g s time limit%s; look for a loop that never ends, or raise the timeout' % (req['timeout_s'], at)
    elif isinstance(exc, MemoryError):
        type_ = 'MemoryLimit'
        message = 'the program needed more memory than its %d MiB limit%s; build smaller arrays or lists, or raise the memory limit' % (req['memory_mb'], at)
    else:
        type_ = type(exc).__name__
        try:
            message = str(exc)
        except BaseException:
            message = '<unprintable %s>' % type_
    head = '%s: %s' % (type_, message) if message else type_
    return {'type': type_, 'message': message, 'line': line, 'traceback': _format_traceback(frames, lines, head)}


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
