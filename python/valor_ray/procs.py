"""Child processes of actors and tasks: the built project's `node` commands, started so that they
die with the Ray worker that owns them (no orphaned servers when Ray kills an actor)."""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: on Linux the kernel sends SIGKILL to the child when the thread that started it
    exits, so it is only set when that thread is the main one (whose end is the process's end)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def child_preexec():
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


class ChildFailed(RuntimeError):
    """A child command did not start as expected (no ready line, or it exited)."""


class ServerChild:
    """A long-running `node` server child that prints one ready line on stdout.

    stdin stays open as a pipe: dist/server.js with --exit-with-stdin stops when it closes, which
    happens whenever this process goes away, however it goes (the prctl above covers the rest).
    The last lines of stderr are kept for error messages.
    """

    def __init__(self, argv, env, ready_re, cwd=None, timeout_s=120.0):
        self.argv = list(argv)
        self.stderr_tail = deque(maxlen=40)
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=child_preexec(),
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.ready = self._wait_ready(re.compile(ready_re), timeout_s)
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_tail.append(line.rstrip("\n"))

    def _drain_stdout(self):
        for _ in self.proc.stdout:
            pass

    def _wait_ready(self, ready_re, timeout_s):
        found = {}

        def read():
            for line in self.proc.stdout:
                m = ready_re.match(line.strip())
                if m:
                    found["m"] = m
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if "m" not in found:
            code = self.proc.poll()
            self.stop()
            how = "exited with code %s" % code if code is not None else "printed no ready line within %.0f s" % timeout_s
            raise ChildFailed("%s %s; its last messages: %s" % (" ".join(self.argv[:3]), how, " | ".join(self.stderr_tail) or "(none)"))
        return found["m"]

    def alive(self):
        return self.proc.poll() is None

    def stop(self, grace_s=5.0):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def exit_when_child_dies(child, what):
    """Watches `child`; when it exits, ends this worker process so that Ray restarts the actor."""

    def watch():
        code = child.proc.wait()
        sys.stderr.write("valor_ray: %s exited (code %s); ending the actor so Ray restarts it. Last messages: %s\n" % (what, code, " | ".join(child.stderr_tail)))
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def get_json(url, token, timeout_s=10.0):
    """GET a JSON route with the bearer token; returns the parsed body or raises OSError."""
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=timeout_s) as res:
        return json.loads(res.read().decode("utf-8"))


def wait_healthy(url, token, timeout_s=60.0):
    """Polls GET /v1/health until it answers 200; returns its body or raises ChildFailed."""
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        try:
            return get_json(url + "/v1/health", token)
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = e
            time.sleep(0.2)
    raise ChildFailed("%s/v1/health did not answer within %.0f s (%s)" % (url, timeout_s, last))
