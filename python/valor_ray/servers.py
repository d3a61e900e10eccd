"""Long-running servers as Ray actors: the tool server (`valor serve`, dist/server.js) and the
reward service (`valor serve-rewards`). Each actor starts its server as a child process, learns
URL and token from the ready line, checks /v1/health, and ends itself when the child dies, so
Ray restarts it (max_restarts) with a fresh server: callers ask `endpoint()` again after a
failure. Ray kills the child with the actor (stdin closes, and PR_SET_PDEATHSIG on Linux)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile

import ray

from valor_ray.procs import ServerChild, exit_when_child_dies, get_json, wait_healthy
from valor_ray.project import child_env, cli_argv, server_argv

TOOL_READY_RE = r"^valor tool server ready at (http://\S+) token=(\S+) device=(\S+)$"
REWARD_READY_RE = r"^valor reward server ready at (http://\S+) token=(\S+) judge=(\S+)$"


def bind_host(bind):
    """`node-ip`: this node's address, so that tasks on other nodes reach the server."""
    return ray.util.get_node_ip_address() if bind == "node-ip" else bind


class _ServerActor:
    kind = "server"

    def _start(self, index, argv, settings, ready_re, token_var):
        self.index = index
        self.token = secrets.token_urlsafe(24)
        # An empty working folder (one per user and node, so that killed actors leave nothing
        # behind): the tool server reads images by path only below its cwd.
        self.cwd = os.path.join(tempfile.gettempdir(), "valor-ray-empty-%d" % os.getuid())
        os.makedirs(self.cwd, mode=0o700, exist_ok=True)
        env = child_env(settings, {token_var: self.token})
        self.child = ServerChild(argv, env, ready_re, cwd=self.cwd)
        self.url = self.child.ready.group(1)
        self.detail = self.child.ready.group(3)
        self.first_health = wait_healthy(self.url, self.token)
        exit_when_child_dies(self.child, "%s %d" % (self.kind, index))

    def endpoint(self):
        """URL and token of the server, and where it runs (for the driver's output and tests)."""
        return {
            "index": self.index,
            "url": self.url,
            "token": self.token,
            "detail": self.detail,
            "node_ip": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "actor_pid": os.getpid(),
            "server_pid": self.child.proc.pid,
        }

    def health(self):
        """The server's own /v1/health answer (raises when it does not answer)."""
        return get_json(self.url + "/v1/health", self.token)

    def status(self):
        """endpoint() plus whether /v1/health answers now (for the driver's health checks)."""
        try:
            self.health()
            return {"endpoint": self.endpoint(), "healthy": True, "error": None}
        except (OSError, ValueError) as e:
            return {"endpoint": self.endpoint(), "healthy": False, "error": str(e)}


def _store_dir():
    """The uploaded-images folder of this actor's server: <tmp>/valor-ray-store-UID/ACTOR_PID.
    Ray kills actors (and so their servers) without a chance to clean up, so each new actor
    first removes the folders of actors that are gone."""
    root = os.path.join(tempfile.gettempdir(), "valor-ray-store-%d" % os.getuid())
    os.makedirs(root, mode=0o700, exist_ok=True)
    for name in os.listdir(root):
        try:
            os.kill(int(name), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except (ValueError, PermissionError):
            pass
    return os.path.join(root, str(os.getpid()))


@ray.remote
class ToolServer(_ServerActor):
    """One `valor serve` (dist/server.js: the same server and flags) on the resources the actor
    was given: one GPU (device cuda) or a few CPUs."""

    kind = "tool server"

    def __init__(self, index, project, settings, host, device, models=None, extra_args=()):
        argv = server_argv(project, "--host", bind_host(host), "--port", "0", "--device", device, "--store-dir", _store_dir(), *(["--models", models] if models else []), *extra_args)
        self._start(index, argv, settings, TOOL_READY_RE, "VALOR_TOOLS_TOKEN")

    def models(self):
        return {k: m.get("id") for k, m in (self.first_health.get("models") or {}).items()}


@ray.remote
class RewardReplica(_ServerActor):
    """One `valor serve-rewards`; the judge endpoint comes from the driver's VALOR_JUDGE_*."""

    kind = "reward replica"

    def __init__(self, index, project, settings, host, extra_args=()):
        argv = cli_argv(project, "serve-rewards", "--host", bind_host(host), "--port", "0", *extra_args)
        self._start(index, argv, settings, REWARD_READY_RE, "VALOR_REWARD_TOKEN")
