"""Line-level trace of a VALOR program (the debugger's record; src/protocol/lineTrace.ts).

For every executed line of the program: how often it ran, and for its first few runs the values
of the names it bound (rendered here, bounded, without calling any code of the program's own
classes) and the tool calls it made. Steps are kept in execution order; loops keep the first
``max_hits_kept`` runs of each line and a count. The whole record is capped (``max_steps``,
``max_chars`` of rendered text); what is dropped is counted, never silently lost. Tracing costs
about a microsecond a line, so after ``max_events`` line events (a long loop) it stops for the
rest of the run and says so (``hits_complete`` false): the program runs on at full speed.

Uses ``sys.settrace`` on the program's own frames only (file name ``<program>``): comprehension
and lambda frames are left alone, their tool calls belong to the enclosing line.
"""
import ast
import itertools
import math
import sys

_SKIP_CODE_NAMES = frozenset(['<listcomp>', '<dictcomp>', '<setcomp>', '<genexpr>', '<lambda>'])
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)


def _stored_names(node, out):
    """Names a statement's own part binds (not its nested statements, not comprehension scopes)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, _COMPREHENSIONS):
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.append(n.id)
        elif isinstance(n, ast.alias):
            out.append(n.asname or n.name.partition('.')[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.append(n.name)
        for child in ast.iter_child_nodes(n):
            if isinstance(child, ast.stmt):
                continue
            stack.append(child)


def analyse(tree):
    """({line: [names]} for every statement that binds names, by its first line; the first lines of
    all statements that run as lines of their own, so a viewer can tell which lines never ran)."""
    table, stmt_lines = {}, set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        if not isinstance(node, ast.Try):
            stmt_lines.add(node.lineno)
        names = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            _stored_names(node.target, names)
        elif isinstance(node, (ast.While, ast.If)):
            _stored_names(node.test, names)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                _stored_names(item, names)
        elif isinstance(node, ast.Try):
            pass
        else:
            _stored_names(node, names)
        if names:
            seen = table.setdefault(node.lineno, [])
            for name in names:
                if name not in seen:
                    seen.append(name)
    for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and n.name):
        seen = table.setdefault(handler.lineno, [])
        if handler.name not in seen:
            seen.append(handler.name)
    return table, sorted(stmt_lines)


# ---------------------------------------------------------------- rendering values

def _is_detection(v):
    return type(v) is dict and 'bbox' in v and 'score' in v and type(v['bbox']) in (list, tuple) and len(v['bbox']) == 4


def _num(x):
    if type(x) in (bool, int):
        return repr(x)
    if type(x) is float:
        if not math.isfinite(x):
            return repr(x)
        return '%.4g' % x
    return '?'


def _box_list(b):
    out = [x for x in b if type(x) in (int, float) and math.isfinite(x)]
    return out if len(out) == 4 else None


class Renderer:
    def __init__(self, np, max_text=120, max_items=4, max_boxes=20):
        self.np, self.max_text, self.max_items, self.max_boxes = np, max_text, max_items, max_boxes

    def cut(self, s):
        return s if len(s) <= self.max_text else s[:self.max_text - 1] + '…'

    def text(self, v, depth=0):
        np = self.np
        # Exact types only: a subclass of the program's own may run its code on len(), in, get().
        t = type(v)
        if v is None or t is bool:
            return repr(v)
        if t in (int, float):
            return _num(v)
        if t is str:
            return repr(v if len(v) <= self.max_text else v[:self.max_text] + '…')
        if np is not None and isinstance(v, np.generic) and t.__module__ == 'numpy':
            try:
                return self.text(v.item(), depth)
            except Exception:
                return '<%s>' % type(v).__name__
        if np is not None and t is np.ndarray:
            # v.flat reads single elements: no copy of a large or strided array.
            flat = [v.flat[i] for i in range(min(self.max_items, v.size))]
            vals = ', '.join(self.text(x.item(), depth + 1) for x in flat) if v.dtype.kind in 'biuf' else ''
            more = ', …' if v.size > self.max_items else ''
            return 'array%s %s [%s%s]' % (tuple(v.shape), v.dtype, vals, more)
        if _is_detection(v):
            return '%s %s %s' % (v['label'] if type(v.get('label')) is str else '?', _num(v.get('score')), self.text(list(v['bbox']), depth + 1))
        if depth > 2:
            return '<%s>' % type(v).__name__
        if t in (list, tuple):
            if v and all(_is_detection(x) for x in v[:self.max_items]) and _is_detection(v[-1]):
                head = '; '.join(self.text(x, depth + 1) for x in v[:2])
                return '%d detection%s: %s%s' % (len(v), '' if len(v) == 1 else 's', head, '; …' if len(v) > 2 else '')
            items = ', '.join(self.text(x, depth + 1) for x in v[:self.max_items])
            more = ', … (%d)' % len(v) if len(v) > self.max_items else ''
            o, c = ('[', ']') if isinstance(v, list) else ('(', ',)' if len(v) == 1 else ')')
            return '%s%s%s%s' % (o, items, more, c)
        if t is dict:
            parts = []
            for k in itertools.islice(v, self.max_items):
                parts.append('%s: %s' % (self.text(k, depth + 1) if type(k) in (str, int, float, bool) else '<key>', self.text(v[k], depth + 1)))
            more = ', … (%d)' % len(v) if len(v) > self.max_items else ''
            return '{%s%s}' % (', '.join(parts), more)
        if t in (set, frozenset):
            return '%s of %d' % (type(v).__name__, len(v))
        if t.__name__ in ('function', 'builtin_function_or_method') and t.__module__ == 'builtins':
            return '<function %s>' % v.__name__
        # Instances of the program's own classes: their __repr__ is program code, never called here.
        return '<%s>' % type(v).__name__

    def boxes(self, v):
        if _is_detection(v):
            b = _box_list(v['bbox'])
            return [b] if b else None
        if type(v) in (list, tuple) and v and all(_is_detection(x) for x in v[:self.max_boxes]):
            out = [_box_list(x['bbox']) for x in v[:self.max_boxes]]
            return [b for b in out if b] or None
        return None

    def value(self, v):
        try:
            out = {'repr': self.cut(self.text(v)), 'type': type(v).__name__[:40]}
            boxes = self.boxes(v)
            if boxes:
                out['boxes'] = boxes
        except Exception as e:  # a value that cannot be read is shown as such, the run goes on
            out = {'repr': '<unreadable %s: %s>' % (type(v).__name__[:40], type(e).__name__), 'type': type(v).__name__[:40]}
        return out


# ---------------------------------------------------------------- the tracer

class LineTracer:
    def __init__(self, filename, analysis, nlines, np, max_hits_kept=3, max_steps=2000, max_chars=200000, max_events=200000):
        (self.bindings, self.statement_lines), self.filename, self.nlines = analysis, filename, nlines
        self.render = Renderer(np)
        self.max_hits_kept, self.max_steps, self.max_chars = max_hits_kept, max_steps, max_chars
        self.hits = {}
        self.steps = []
        self.dropped = 0
        self.chars = 0
        self.truncated = False
        self.max_events, self.events, self.stopped = max_events, 0, False
        # Per traced frame: [frame, open step or None, its line]; innermost last.
        self.stack = []

    # The open step of the innermost program frame: a tool call made now belongs to it.
    def current_step(self):
        for entry in reversed(self.stack):
            if entry[2] is not None:
                return entry[1]
        return None

    def note_call(self, index):
        step = self.current_step()
        if step is not None:
            step.setdefault('calls', []).append(index)

    def _close(self, entry):
        step, line, frame = entry[1], entry[2], entry[0]
        entry[1] = entry[2] = None
        if step is None or line is None:
            return
        names = self.bindings.get(line)
        if not names:
            return
        local = frame.f_locals
        values = {}
        for name in names:
            if name in local:
                values[name] = self.render.value(local[name])
        if not values:
            return
        size = sum(len(k) + len(v['repr']) + 16 * len(v.get('boxes') or ()) for k, v in values.items())
        if self.chars + size > self.max_chars:
            self.truncated = True
            step['values_dropped'] = True
            return
        self.chars += size
        step['values'] = values

    def _open(self, entry, frame, line):
        self.hits[line] = self.hits.get(line, 0) + 1
        hit = self.hits[line]
        entry[2] = line
        if hit > self.max_hits_kept or len(self.steps) >= self.max_steps:
            self.dropped += 1
            if len(self.steps) >= self.max_steps:
                self.truncated = True
            entry[1] = None
            return
        step = {'line': line, 'hit': hit}
        name = frame.f_code.co_name
        if len(self.stack) > 1 and isinstance(name, str):
            step['fn'] = name[:80]
        self.steps.append(step)
        entry[1] = step

    def global_trace(self, frame, event, arg):
        code = frame.f_code
        if code.co_filename != self.filename or code.co_name in _SKIP_CODE_NAMES:
            return None
        self.stack.append([frame, None, None])
        return self.local_trace

    def _give_up(self):
        self.stopped = self.truncated = True
        sys.settrace(None)
        while self.stack:
            self._close(self.stack.pop())

    def local_trace(self, frame, event, arg):
        if self.stopped:
            return None
        if not self.stack or self.stack[-1][0] is not frame:
            return self.local_trace
        entry = self.stack[-1]
        if event == 'line':
            self.events += 1
            if self.events > self.max_events:
                self._give_up()
                return None
            line = frame.f_lineno
            if entry[2] is not None:
                self._close(entry)
            if 1 <= line <= self.nlines:
                self._open(entry, frame, line)
        elif event == 'return':
            self._close(entry)
            self.stack.pop()
        elif event == 'exception':
            step = entry[1]
            if step is not None and isinstance(arg, tuple) and arg and isinstance(arg[0], type):
                step['raised'] = arg[0].__name__[:80]
        return self.local_trace

    def start(self):
        sys.settrace(self.global_trace)

    def stop(self):
        sys.settrace(None)
        while self.stack:
            entry = self.stack.pop()
            try:
                self._close(entry)
            except Exception:
                pass

    def record(self):
        return {
            'version': 1,
            'lines': [[line, n] for line, n in sorted(self.hits.items())],
            'statement_lines': self.statement_lines[:5000],
            'steps': self.steps,
            'dropped_steps': self.dropped,
            'truncated': self.truncated,
            'max_hits_kept': self.max_hits_kept,
            'hits_complete': not self.stopped,
        }
