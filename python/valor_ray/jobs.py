"""What the eval and grounding jobs share: starting the tool-server actors, asking an actor for
its endpoint across restarts, the progress board actor, the driver's wait-and-report loop, and
where a shard's output lives (the driver's --out when every node sees it, else node-local and
shipped back as a tar archive)."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import sys
import tarfile
import tempfile
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from valor_ray.servers import ToolServer

MARKER = ".valor-ray-job"


class ShardFailed(RuntimeError):
    """A shard could not finish after its attempts; Ray retries the task (max_retries)."""


class ShardSetupError(RuntimeError):
    """A shard was refused as configured (exit code 2); retrying cannot help."""


@ray.remote(num_cpus=0)
class ProgressBoard:
    """Per-shard state that the tasks report and the driver prints."""

    def __init__(self):
        self.shards = {}

    def update(self, shard, fields):
        self.shards.setdefault(shard, {}).update(fields)

    def snapshot(self):
        return self.shards


def endpoint_of(server, timeout_s=180.0):
    """The server's endpoint; waits while Ray restarts the actor. Raises ShardFailed when it
    does not come back within `timeout_s` (or Ray gave up on it)."""
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        try:
            ep = ray.get(server.endpoint.remote(), timeout=max(1.0, end - time.monotonic()))
            ray.get(server.health.remote(), timeout=30)
            return ep
        except ray.exceptions.ActorDiedError as e:
            raise ShardFailed("its tool server is gone for good (Ray used up its restarts): %s" % str(e).splitlines()[0]) from None
        except (ray.exceptions.RayError, OSError) as e:
            last = e
            time.sleep(1.0)
    raise ShardFailed("its tool server did not answer within %.0f s (%s)" % (timeout_s, str(last).splitlines()[0] if last else "?"))


def start_tool_servers(args, project, settings):
    """Starts args.tool_servers ToolServer actors, placed by Ray resources (one GPU each, or
    args.cpus_per_server CPUs), spread over the nodes; returns the handles and their endpoints."""
    device = "cuda" if args.gpus_per_server > 0 else "cpu"
    handles = []
    for i in range(args.tool_servers):
        opts = {
            "name": "valor tool server %d" % i,
            "num_cpus": args.cpus_per_server,
            "num_gpus": args.gpus_per_server,
            "max_restarts": args.server_restarts,
            "max_task_retries": 0,
            "scheduling_strategy": "SPREAD",
        }
        extra = list(args.server_arg or [])
        handles.append(ToolServer.options(**opts).remote(i, project, settings, args.bind, device, args.models, extra))
    endpoints = []
    for i, h in enumerate(handles):
        try:
            endpoints.append(ray.get(h.endpoint.remote(), timeout=args.start_timeout))
        except ray.exceptions.GetTimeoutError:
            raise ShardSetupError(
                "tool server %d did not start within %.0f s: the cluster may lack the resources it asks for (%s CPUs, %s GPUs per server); see `ray status`"
                % (i, args.start_timeout, args.cpus_per_server, args.gpus_per_server)
            ) from None
        except ray.exceptions.RayError as e:
            raise ShardSetupError("tool server %d failed to start: %s" % (i, str(e).strip().splitlines()[-1])) from None
    return handles, endpoints


def placement_for(endpoint, bind):
    """Shard tasks may run anywhere, unless the server listens on loopback only: then beside it."""
    if bind in ("127.0.0.1", "localhost", "::1"):
        return NodeAffinitySchedulingStrategy(node_id=endpoint["node_id"], soft=False)
    return "DEFAULT"


def new_job_key(out_root):
    key = secrets.token_hex(8)
    with open(os.path.join(out_root, MARKER), "w") as f:
        f.write(key)
    return key


def shard_dir(out_root, job_key, name, ship=False):
    """(folder, shared): the driver's out_root/name when this node sees the driver's marker
    there (a shared file system, or the driver's own node), else (or when `ship`) a node-local
    folder whose contents go back to the driver in the task's result."""
    if ship:
        return os.path.join(tempfile.gettempdir(), "valor-ray", job_key, name), False
    try:
        with open(os.path.join(out_root, MARKER)) as f:
            if f.read().strip() == job_key:
                return os.path.join(out_root, name), True
    except OSError:
        pass
    return os.path.join(tempfile.gettempdir(), "valor-ray", job_key, name), False


def pack(folder):
    """The folder as a tar.gz archive; the folder is removed (the archive is the task's result)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(folder))  # the job's node-local folder, once its last shard left
    except OSError:
        pass
    return buf.getvalue()


def unpack(data, folder):
    os.makedirs(folder, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


class ServerWatch:
    """Health checks of the tool servers from the driver, without blocking its loop: one
    `status()` call in flight per server. A server that Ray restarted (a new actor process) is
    reported; one that fails its /v1/health `max_failures` times in a row (or whose actor does
    not answer for `stuck_s`) is killed, so that Ray starts a fresh one (a hung server would
    otherwise never be replaced)."""

    def __init__(self, handles, say, max_failures=3, stuck_s=60.0):
        self.handles, self.say = handles, say
        self.max_failures, self.stuck_s = max_failures, stuck_s
        self.known, self.failures, self.inflight = {}, {}, {}

    def _failed(self, i, why):
        self.failures[i] = self.failures.get(i, 0) + 1
        if self.failures[i] >= self.max_failures:
            self.say("tool server %d failed its health check %d times (%s); killing it so Ray restarts it" % (i, self.failures[i], why))
            ray.kill(self.handles[i], no_restart=False)
            self.failures[i] = 0

    def poll(self):
        for i, h in enumerate(self.handles):
            if i not in self.inflight:
                self.inflight[i] = (h.status.remote(), time.monotonic())
                continue
            ref, since = self.inflight[i]
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                if time.monotonic() - since > self.stuck_s:
                    del self.inflight[i]
                    self._failed(i, "no answer for %.0f s" % self.stuck_s)
                continue
            del self.inflight[i]
            try:
                st = ray.get(ref)
            except ray.exceptions.RayError:
                continue  # the actor is dead or restarting: Ray is on it
            ep = st["endpoint"]
            if self.known.get(i) and self.known[i]["actor_pid"] != ep["actor_pid"]:
                self.say("tool server %d was restarted by Ray: now %s (pid %d) on %s" % (i, ep["url"], ep["server_pid"], ep["node_ip"]))
                self.failures[i] = 0
            self.known[i] = ep
            if st["healthy"]:
                self.failures[i] = 0
            else:
                self._failed(i, st["error"])


def wait_all(refs, board, line, handles, say, interval_s=2.0, quiet_s=10.0):
    """Waits for every task in `refs` (shard index -> ref), printing a progress line whenever the
    board changes (and at least every `quiet_s`). Returns (results, failures) by shard index."""
    pending = dict(refs)
    results, failures = {}, {}
    last_text, last_time = None, 0.0
    watch = ServerWatch(handles, say)
    watch.poll()
    while pending:
        ready, _ = ray.wait(list(pending.values()), num_returns=1, timeout=interval_s)
        for ref in ready:
            index = next(i for i, r in pending.items() if r == ref)
            del pending[index]
            try:
                results[index] = ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if getattr(e, "cause", None) is not None else e
                failures[index] = str(cause).strip().splitlines()[-1]
            except ray.exceptions.RayError as e:
                failures[index] = str(e).strip().splitlines()[-1]
        watch.poll()
        text = line(ray.get(board.snapshot.remote()))
        now = time.monotonic()
        if text != last_text or now - last_time >= quiet_s or not pending:
            say(text)
            last_text, last_time = text, now
    return results, failures


def say_to(stream):
    def say(text):
        stream.write("valor_ray: %s\n" % text)
        stream.flush()

    return say


SAY = say_to(sys.stdout)
