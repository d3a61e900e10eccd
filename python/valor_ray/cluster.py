"""Connecting to Ray, the runtime_env every task and actor gets, and the start-up check that
every node can run the project (Node 20, the built dist/, numpy, the data paths)."""

from __future__ import annotations

import json
import os

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from valor_ray.project import node_problems

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class SetupError(RuntimeError):
    """The cluster cannot run the job as asked; the message says what to fix (exit code 2)."""


def runtime_env(user_json=None):
    """valor_ray itself travels as a py_module (small); the user's runtime_env (JSON: env_vars
    with PATH/VALOR_NODE, a container image, ...) is merged over it."""
    env = {"py_modules": [PACKAGE_DIR]}
    if user_json:
        try:
            user = json.loads(user_json)
        except ValueError as e:
            raise SetupError("--runtime-env-json is not valid JSON: %s" % e) from None
        if not isinstance(user, dict):
            raise SetupError("--runtime-env-json must be a JSON object, e.g. '{\"env_vars\": {\"PATH\": \"/opt/node20/bin:/usr/bin:/bin\"}}'")
        mods = list(user.pop("py_modules", []))
        env.update(user)
        env["py_modules"] = [PACKAGE_DIR, *mods]
    return env


def connect(address, local_cpus, env, temp_dir=None):
    """Joins the cluster at `address` (or $RAY_ADDRESS); with neither, starts a local instance
    with `local_cpus` CPUs owned by this driver (stopped when it exits)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = {"runtime_env": env, "log_to_driver": True, "configure_logging": True, "logging_level": "warning"}
    if address:
        ray.init(address=address, **kwargs)
        return "cluster at %s" % address
    ray.init(address="local", num_cpus=local_cpus, include_dashboard=False, _temp_dir=temp_dir, **kwargs)
    return "local Ray instance (%d CPUs)" % local_cpus


@ray.remote(num_cpus=0, max_retries=0)
def _check_node(project, python, paths):
    return {"ip": ray.util.get_node_ip_address(), "problems": node_problems(project, python, paths)}


def check_nodes(project, python="python3", paths=(), timeout_s=180.0):
    """Runs the check on every alive node, with the job's runtime_env. Returns the node count;
    raises SetupError listing what is missing on which node."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = {}
    for n in nodes:
        strategy = NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)
        name = "valor: check node %s" % n.get("NodeManagerAddress", n["NodeID"][:8])
        refs[n["NodeID"]] = (n, _check_node.options(scheduling_strategy=strategy, name=name).remote(project, python, list(paths)))
    report = []
    for node_id, (n, ref) in refs.items():
        where = "node %s (%s)" % (n.get("NodeManagerAddress", "?"), node_id[:12])
        try:
            got = ray.get(ref, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            report.append("%s: the check did not finish within %.0f s" % (where, timeout_s))
            continue
        except ray.exceptions.RayError as e:
            report.append("%s: the check could not run there (%s)" % (where, str(e).strip().splitlines()[-1]))
            continue
        for p in got["problems"]:
            report.append("%s: %s" % (where, p))
    if report:
        raise SetupError("the cluster cannot run VALOR Studio yet:\n  " + "\n  ".join(report))
    return len(nodes)
