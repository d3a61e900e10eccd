"""What one VALOR program is given and how it is judged before and after it runs: the tool
functions (forwarding calls over the run's channel), values turned into JSON, the restricted
builtins and import allow-list (defence in depth only: the boundary is sandbox.py), the syntax
checks and the wrapping that lets a top-level ``return`` work, and the program's errors
located in its own lines. Used by child.py, in the child that runs the program.
"""
import ast
import builtins
import json
import math
import sys
import traceback

import linetrace  # the debugger's line trace, next to this file

PROGRAM_FILE = '<program>'
WRAPPER_NAME = '__valor_program__'
np = None  # numpy, once the worker has imported it (set_numpy)


def set_numpy(module):
    global np
    np = module


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
