"""Where the built project and Node 20 are on a node, and what a node lacks to run it.

Every node runs the project's own bundles (dist/cli.js, dist/server.js) with `node` >= 20; the
native packages (onnxruntime-node, sharp) come from the project's node_modules. They are far too
large for Ray's working_dir upload (onnxruntime-node alone is ~290 MB), so nodes get the project
from a container image or a shared file system, at the path the driver passes (--project, default
the driver's own checkout). docs/scale.md shows both.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

MIN_NODE_MAJOR = 20
# Variables the children need (endpoints, keys, device, caches); passed to actors and tasks as
# arguments, never through runtime_env env_vars, which Ray's dashboard shows to anyone who opens it.
FORWARDED_ENV = re.compile(r"^(VALOR_|OPENAI_API_KEY$)")


def default_project_root():
    """$VALOR_PROJECT, else the checkout this package lies in (python/valor_ray/../..)."""
    env = os.environ.get("VALOR_PROJECT", "").strip()
    if env:
        return os.path.abspath(env)
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def node_binary():
    """$VALOR_NODE, else `node` on this process's PATH; None when there is none."""
    explicit = os.environ.get("VALOR_NODE", "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("node")


def forwarded_env(environ=None):
    """The VALOR_* / OPENAI_API_KEY settings of the driver, for the children on the nodes."""
    src = os.environ if environ is None else environ
    return {k: v for k, v in src.items() if FORWARDED_ENV.match(k)}


def child_env(settings, extra=None):
    """This node's environment (PATH etc. from the runtime_env) plus the driver's settings."""
    env = {k: v for k, v in os.environ.items() if not FORWARDED_ENV.match(k)}
    env.update(settings)
    env.update(extra or {})
    return env


def cli_argv(project, *args):
    return [node_binary() or "node", os.path.join(project, "dist", "cli.js"), *args]


def server_argv(project, *args):
    return [node_binary() or "node", os.path.join(project, "dist", "server.js"), "--exit-with-stdin", *args]


def _run(argv, cwd=None, timeout=60):
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)


def node_problems(project, python="python3", paths=()):
    """What this node lacks to run the project: a list of sentences, empty when all is there."""
    problems = []
    node = node_binary()
    if node is None:
        where = "VALOR_NODE=%s is not executable" % os.environ["VALOR_NODE"] if os.environ.get("VALOR_NODE") else "no `node` on PATH (%s)" % os.environ.get("PATH", "")
        problems.append("Node.js %d+ is missing: %s. Install Node %d, or set PATH or VALOR_NODE in the runtime_env's env_vars" % (MIN_NODE_MAJOR, where, MIN_NODE_MAJOR))
    else:
        code, out = _run([node, "--version"])
        m = re.match(r"v(\d+)\.", out)
        if code != 0 or not m:
            problems.append("`%s --version` failed (%s): Node.js %d+ is needed" % (node, out or "exit %d" % code, MIN_NODE_MAJOR))
        elif int(m.group(1)) < MIN_NODE_MAJOR:
            problems.append("Node.js %s at %s is too old: %d or newer is needed. Install Node %d, or point PATH or VALOR_NODE in the runtime_env's env_vars at it" % (out, node, MIN_NODE_MAJOR, MIN_NODE_MAJOR))
    missing_dist = [f for f in ("cli.js", "server.js") if not os.path.isfile(os.path.join(project, "dist", f))]
    if not os.path.isdir(project):
        problems.append("the project folder %s does not exist: install VALOR Studio there (npm ci && npm run build), or pass --project" % project)
    elif missing_dist:
        problems.append("%s has no dist/%s: the project is not built; run `npm ci && npm run build` there" % (project, " or dist/".join(missing_dist)))
    elif node is not None and not problems:
        code, out = _run([node, "-e", "require('onnxruntime-node'); require('sharp')"], cwd=project)
        if code != 0:
            last = out.strip().splitlines()[-1] if out.strip() else "exit %d" % code
            problems.append("the native packages do not load in %s (%s): run `npm ci` there on this platform" % (project, last))
    code, out = _run([python, "-c", "import numpy"])
    if code != 0:
        problems.append("`%s` cannot import numpy (programs run there): install python3 with numpy, or set VALOR_PYTHON" % python)
    for label, path in paths:
        if path and not os.path.exists(path):
            problems.append("the %s %s is not on this node: put it on storage every node sees (the same path), or copy it there" % (label, path))
    return problems
