"""The driver's commands: check, eval, ground, serve-rewards. Exit codes as `valor`'s: 0 done,
1 finished incomplete or failed, 2 bad usage or a cluster that cannot run the job."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from valor_ray.project import default_project_root, forwarded_env, node_problems

USAGE_EPILOG = """
The cluster: --address or $RAY_ADDRESS; with neither, a local Ray instance with --local-cpus CPUs.
Every node needs Node 20 and the built project at --project (default: this checkout); the driver
checks that first and says what is missing on which node. Settings (VALOR_LLM_*, VALOR_VLM_*,
VALOR_JUDGE_*, keys) are taken from the driver's environment and handed to the tasks and actors.
Details: docs/scale.md.
"""


def _cluster_args(p):
    g = p.add_argument_group("cluster")
    g.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS; unset: start a local instance)")
    g.add_argument("--local-cpus", type=int, default=os.cpu_count() or 2, help="CPUs of the local instance (default: this machine's)")
    g.add_argument("--ray-temp-dir", help="temp folder of the local instance (default Ray's)")
    g.add_argument("--project", default=default_project_root(), help="path of the built VALOR Studio on every node (default: %(default)s)")
    g.add_argument("--runtime-env-json", help='runtime_env merged over the driver\'s, e.g. \'{"env_vars": {"PATH": "/opt/node20/bin:/usr/bin:/bin"}}\'')
    g.add_argument("--python", default=os.environ.get("VALOR_PYTHON", "python3"), help="python that runs programs on the nodes (checked for numpy)")


def _server_args(p):
    g = p.add_argument_group("tool servers")
    g.add_argument("--tool-servers", type=int, default=1, help="tool-server actors (default 1)")
    g.add_argument("--gpus-per-server", type=float, default=0, help="GPUs each asks for; > 0 runs it with --device cuda (default 0)")
    g.add_argument("--cpus-per-server", type=float, default=1, help="CPUs each asks for (default 1)")
    g.add_argument("--models", help="model folder on the nodes (default: $VALOR_MODELS_DIR there, else the pull cache)")
    g.add_argument("--bind", default="node-ip", help="address the servers listen on: node-ip (default, reachable from other nodes) or 127.0.0.1 (tasks then run beside their server)")
    g.add_argument("--server-restarts", type=int, default=3, help="times Ray restarts a dead tool server (default 3)")
    g.add_argument("--server-arg", action="append", help="extra `valor serve` flag for every server (repeatable), e.g. --server-arg=--cache-mb=4096")
    g.add_argument("--start-timeout", type=float, default=300, help="seconds to wait for the servers to start (default 300)")


def _shard_args(p, default_shards):
    g = p.add_argument_group("shards")
    g.add_argument("--shards", type=int, default=default_shards, help="tasks the input is split into (default %(default)s)")
    g.add_argument("--shard-cpus", type=float, default=1, help="CPUs each shard task asks for (default 1)")
    g.add_argument("--attempts", type=int, default=5, help="runs of a shard inside one task before the task fails (default 5)")
    g.add_argument("--retries", type=int, default=2, help="times Ray retries a failed shard task (default 2)")


def parser():
    top = argparse.ArgumentParser(prog="python -m valor_ray", description="VALOR Studio on a Ray cluster.", epilog=USAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="check that every node can run the project, and stop")
    _cluster_args(c)

    e = sub.add_parser("eval", help="valor eval, sharded over Ray tasks and tool-server actors, merged into one summary and report")
    e.add_argument("file", help="benchmark file (JSONL or JSON), at the same path on every node")
    e.add_argument("--images", help="image folder (default: the file's folder), at the same path on every node")
    e.add_argument("--out", required=True, help="output folder: shard-i/ per shard, then the merged summary.json and report.html")
    e.add_argument("--concurrency", type=int, default=4, help="questions in flight per shard (default 4)")
    e.add_argument("--ship-results", action="store_true", help="shards write on their node and send their folder back to the driver (automatic when a node cannot see --out)")
    e.add_argument("--eval-arg", action="append", help="extra `valor eval` flag for every shard (repeatable), e.g. --eval-arg=--score")
    _cluster_args(e)
    _server_args(e)
    _shard_args(e, 4)

    g = sub.add_parser("ground", help="valor verify-boxes over many images in Ray tasks, merged into one ODVG export")
    g.add_argument("file", help='JSONL, one {"image": PATH, "prompt": "sofa, lamp"} per line')
    g.add_argument("--images", help="folder relative image paths are in (default: the file's folder)")
    g.add_argument("--out", required=True, help="output folder: grounding-shard-i.jsonl per shard, odvg/ for the export")
    g.add_argument("--concurrency", type=int, default=2, help="images in flight per shard (default 2)")
    g.add_argument("--image-root", help="as for `valor export odvg --image-root`")
    g.add_argument("--audit", help="audit log whose box overrides the export applies (default .valor/audits.jsonl when present)")
    g.add_argument("--verify-arg", action="append", help="extra `valor verify-boxes` flag (repeatable)")
    _cluster_args(g)
    _server_args(g)
    _shard_args(g, 4)

    r = sub.add_parser("serve-rewards", help="valor serve-rewards replicas as actors behind one address for valor_reward.py")
    r.add_argument("--replicas", type=int, default=2, help="reward-service actors (default 2)")
    r.add_argument("--cpus-per-replica", type=float, default=1, help="CPUs each asks for (default 1)")
    r.add_argument("--host", default="127.0.0.1", help="address of the front: 127.0.0.1 (default) or node-ip (reachable from other nodes)")
    r.add_argument("--port", type=int, default=0, help="port of the front (default 0: a free one)")
    r.add_argument("--token", default=os.environ.get("VALOR_REWARD_TOKEN") or None, help="bearer token of the front (default $VALOR_REWARD_TOKEN, else random)")
    r.add_argument("--bind", default="node-ip", help="address the replicas listen on (default node-ip)")
    r.add_argument("--replica-restarts", type=int, default=3, help="times Ray restarts a dead replica (default 3)")
    r.add_argument("--replica-arg", action="append", help="extra `valor serve-rewards` flag (repeatable)")
    _cluster_args(r)
    return top


def main(argv):
    args = parser().parse_args(argv)
    for name in ("shards", "tool_servers", "concurrency", "replicas", "attempts"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            print("valor_ray: --%s must be at least 1" % name.replace("_", "-"), file=sys.stderr)
            return 2
    project = os.path.abspath(args.project)
    # The driver itself runs `valor eval merge` / `valor export odvg`: it needs the project too.
    here = node_problems(project, args.python)
    if here:
        print("valor_ray: this machine (the driver) cannot run the project:\n  " + "\n  ".join(here), file=sys.stderr)
        return 2

    try:
        import ray
    except ImportError:
        print("valor_ray: this python (%s) has no ray: python3 -m pip install 'ray==2.58.*'" % sys.executable, file=sys.stderr)
        return 2

    from valor_ray.cluster import SetupError, check_nodes, connect, runtime_env
    from valor_ray.jobs import SAY, ShardSetupError

    # SIGTERM (ray job stop, a test harness) ends like Ctrl-C: actors and a local instance stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        env = runtime_env(args.runtime_env_json)
        where = connect(args.address, args.local_cpus, env, args.ray_temp_dir)
        SAY("connected to %s" % where)
        paths = []
        if args.command in ("eval", "ground"):
            paths = [("input file", os.path.abspath(args.file)), ("image folder", os.path.abspath(args.images) if args.images else None), ("model folder", args.models)]
        n = check_nodes(project, args.python, paths)
        SAY("%d node(s) checked: Node 20, %s/dist, numpy%s" % (n, project, ", the input paths" if paths else ""))
        if args.command == "check":
            return 0
        settings = forwarded_env()
        if args.command == "eval":
            from valor_ray import evaljob

            return evaljob.run(args, project, settings)
        if args.command == "ground":
            from valor_ray import ground

            return ground.run(args, project, settings)
        from valor_ray import rewards

        return rewards.run(args, project, settings)
    except (SetupError, ShardSetupError) as e:
        print("valor_ray: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("valor_ray: interrupted; run the same command again to resume (finished work is kept)", file=sys.stderr)
        return 130
    finally:
        if ray.is_initialized():
            ray.shutdown()
