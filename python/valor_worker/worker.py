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

Here: the entry point (numpy, the sandbox's one-time set-up, the mode). The warm parent is
parent.py, the child that runs a program child.py, what a program is given and how it is judged
program.py.
"""
import sys

# The script's own folder is first on sys.path: take what we need from it, then drop it (and
# the working directory) so a program can never import from there. Every module of ours is
# imported here, before that, including those child.py and parent.py import.
_HERE = sys.path[0] if sys.path else ''
import sandbox  # noqa: E402  (our own modules, next to this file)
import linetrace  # noqa: E402,F401  (the debugger's line trace, used by child.py)
import program  # noqa: E402
import processes  # noqa: E402,F401
from child import child_main  # noqa: E402
from parent import parent_main  # noqa: E402
sys.path[:] = [p for p in sys.path if p not in ('', '.', _HERE)]
import json  # noqa: E402
import os  # noqa: E402


def _fatal(kind, message):
    sys.stderr.write(json.dumps({'fatal': kind, 'message': message}) + '\n')
    sys.stderr.flush()
    os._exit(3)


def _import_numpy():
    try:
        import numpy
    except Exception as e:
        _fatal('numpy-missing', 'numpy could not be imported by %s (%s: %s)' % (sys.executable, type(e).__name__, e))
    program.set_numpy(numpy)


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
