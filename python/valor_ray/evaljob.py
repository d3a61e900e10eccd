"""`python -m valor_ray eval`: a benchmark file split into shards, each a Ray task running
`valor eval --shard i/n --resume` against one tool-server actor, merged with `valor eval merge`
into the same summary.json and report.html as one local run.

A shard task is idempotent: `--resume` keeps the records already written, so a retry (by the
task itself after a tool-server outage, or by Ray after the task's worker died) runs only what is
missing. Questions recorded as outages (tool_outage, endpoint_outage, internal) are run again by
the next attempt, so an outage never ends up in the summary as a result.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

import ray

from valor_ray.jobs import SAY, ProgressBoard, ShardFailed, ShardSetupError, endpoint_of, new_job_key, pack, placement_for, shard_dir, start_tool_servers, unpack, wait_all
from valor_ray.procs import child_preexec
from valor_ray.project import child_env, cli_argv

RETRY_KINDS = ("tool_outage", "endpoint_outage", "internal")
START_RE = re.compile(r"^eval: (\d+) questions")


def _count_records(out):
    try:
        return sum(1 for n in os.listdir(os.path.join(out, "runs")) if n.endswith(".json"))
    except OSError:
        return 0


def _read_summary(out):
    try:
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _finished(out):
    """A shard folder holding a complete run without outage results (nothing left to resume)."""
    summary = _read_summary(out)
    if not summary or not summary.get("complete"):
        return False
    by_kind = summary.get("errors", {}).get("by_kind", {})
    return not any(by_kind.get(k) for k in RETRY_KINDS)


def _run_eval_child(argv, env, out, report):
    """Runs one `valor eval` child, reporting records on disk every second. Returns
    (exit code, last stderr lines, selected question count or None)."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=child_preexec())
    tail, state = [], {"selected": None}

    def read_err():
        for line in proc.stderr:
            line = line.rstrip("\n")
            m = START_RE.match(line)
            if m:
                state["selected"] = int(m.group(1))
            tail.append(line)
            del tail[:-30]

    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    out_thread = threading.Thread(target=proc.stdout.read, daemon=True)
    out_thread.start()
    while proc.poll() is None:
        report(_count_records(out), state["selected"])
        time.sleep(1.0)
    reader.join(5)
    out_thread.join(5)
    return proc.returncode, tail, state["selected"]


@ray.remote(num_cpus=1)
def eval_shard(spec, index, server, board):
    """One shard: `valor eval --shard index/n --resume` until it has a result for every question
    (at most spec['attempts'] times); returns where its output is (and the output itself as a
    tar archive when the driver cannot see this node's files)."""
    n = spec["shards"]
    out, shared = shard_dir(spec["out"], spec["job_key"], "shard-%d" % index, spec["ship"])
    os.makedirs(out, exist_ok=True)
    node_ip = ray.util.get_node_ip_address()
    base = {"node": node_ip}
    reason = None
    for attempt in range(1, spec["attempts"] + 1):
        ep = endpoint_of(server)
        board.update.remote(index, dict(base, state="running", attempt=attempt, server=ep["index"], done=_count_records(out)))

        def report(done, selected, _ep=ep, _attempt=attempt):
            fields = dict(base, state="running", attempt=_attempt, server=_ep["index"], done=done)
            if selected is not None:
                fields["selected"] = selected
            board.update.remote(index, fields)

        argv = cli_argv(spec["project"], "eval", spec["file"], "--images", spec["images"], "--out", out, "--shard", "%d/%d" % (index, n), "--resume")
        argv += ["--concurrency", str(spec["concurrency"]), "--tools-url", ep["url"], *spec["eval_args"]]
        env = child_env(spec["settings"], {"VALOR_TOOLS_TOKEN": ep["token"]})
        code, tail, _ = _run_eval_child(argv, env, out, report)
        if code == 2:
            message = " | ".join(line for line in tail if line.strip())[-600:]
            board.update.remote(index, dict(base, state="failed", error=message))
            raise ShardSetupError("shard %d/%d: valor eval refused the job: %s" % (index, n, message))
        summary = _read_summary(out)
        by_kind = (summary or {}).get("errors", {}).get("by_kind", {})
        outages = {k: by_kind[k] for k in RETRY_KINDS if by_kind.get(k)}
        if code == 0 and _finished(out):
            counts = summary["counts"]
            board.update.remote(index, dict(base, state="done", attempt=attempt, done=counts["done"], selected=counts["selected"]))
            return {"index": index, "out": out, "node": node_ip, "attempts": attempt, "counts": counts, "tar": None if shared else pack(out)}
        if outages:
            reason = "%s recorded as outages" % ", ".join("%d %s" % (v, k) for k, v in outages.items())
        else:
            reason = "valor eval exited %s: %s" % (code, (tail[-1] if tail else "no message"))
        board.update.remote(index, dict(base, state="retrying", attempt=attempt, reason=reason))
        time.sleep(min(10.0, 1.0 * attempt))
    board.update.remote(index, dict(base, state="failed", error=reason))
    raise ShardFailed("shard %d/%d did not finish in %d attempts: %s" % (index, n, spec["attempts"], reason))


def _progress_line(n):
    def line(snapshot):
        done = sum(s.get("done", 0) for s in snapshot.values())
        known = [s.get("selected") for s in snapshot.values()]
        total = sum(k for k in known if k is not None) if len(known) == n and all(k is not None for k in known) else None
        parts = ["%d/%s questions done" % (done, total if total is not None else "?")]
        for i in range(n):
            s = snapshot.get(i)
            if not s:
                parts.append("shard %d/%d: waiting" % (i, n))
                continue
            detail = "%s %s/%s" % (s.get("state"), s.get("done", 0), s.get("selected", "?"))
            if s.get("attempt", 1) > 1 or s.get("state") == "retrying":
                detail += " (attempt %s%s)" % (s.get("attempt"), ": " + s["reason"] if s.get("state") == "retrying" and s.get("reason") else "")
            parts.append("shard %d/%d: %s on tool server %s" % (i, n, detail, s.get("server", "?")))
        return "; ".join(parts)

    return line


def run(args, project, settings):
    """The driver's eval job; returns the exit code (0 complete, 1 incomplete or failed shards)."""
    started = time.monotonic()
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    job_key = new_job_key(out_root)
    handles, endpoints = start_tool_servers(args, project, settings)
    servers_ready = time.monotonic()
    for ep in endpoints:
        SAY("tool server %d: %s on %s (pid %d, actor pid %d, device %s)" % (ep["index"], ep["url"], ep["node_ip"], ep["server_pid"], ep["actor_pid"], ep["detail"]))
    spec = {
        "project": project,
        "file": os.path.abspath(args.file),
        "images": os.path.abspath(args.images) if args.images else os.path.dirname(os.path.abspath(args.file)),
        "out": out_root,
        "job_key": job_key,
        "shards": args.shards,
        "concurrency": args.concurrency,
        "eval_args": list(args.eval_arg or []),
        "settings": settings,
        "attempts": args.attempts,
        "ship": args.ship_results,
    }
    board = ProgressBoard.options(name="valor eval progress").remote()
    name = os.path.basename(args.file)
    refs = {}
    for i in range(args.shards):
        folder = os.path.join(out_root, "shard-%d" % i)
        if _finished(folder):
            counts = _read_summary(folder)["counts"]
            SAY("shard %d/%d: already finished in %s (a previous run); kept" % (i, args.shards, folder))
            board.update.remote(i, {"state": "done", "done": counts["done"], "selected": counts["selected"], "server": "-"})
            continue
        s = i % len(handles)
        refs[i] = eval_shard.options(
            name="valor eval %s shard %d/%d (tool server %d)" % (name, i, args.shards, s),
            num_cpus=args.shard_cpus,
            max_retries=args.retries,
            retry_exceptions=[ShardFailed],
            scheduling_strategy=placement_for(endpoints[s], args.bind),
        ).remote(spec, i, handles[s], board)
    SAY("%d shards of %s submitted over %d tool server(s)" % (args.shards, name, len(handles)))
    results, failures = wait_all(refs, board, _progress_line(args.shards), handles, SAY)
    shards_done = time.monotonic()
    folders = []
    for i in range(args.shards):
        folder = os.path.join(out_root, "shard-%d" % i)
        r = results.get(i)
        if r and r["tar"] is not None:
            unpack(r["tar"], folder)
            SAY("shard %d/%d: copied its output back from node %s" % (i, args.shards, r["node"]))
        if r or os.path.isdir(folder):
            folders.append(folder)
    for i, why in sorted(failures.items()):
        SAY("shard %d/%d failed: %s" % (i, args.shards, why))
    merge_argv = cli_argv(project, "eval", "merge", *folders, "--out", out_root, *(["--allow-partial"] if failures else []))
    merged = subprocess.run(merge_argv, env=child_env(settings), capture_output=True, text=True)
    merge_done = time.monotonic()
    for line in merged.stdout.splitlines():
        print(line)
    if merged.returncode not in (0, 1):
        SAY("valor eval merge failed: %s" % merged.stderr.strip())
    summary = _read_summary(out_root) or {}
    questions = summary.get("counts", {}).get("done", 0)
    job = {
        "tool_servers": len(handles),
        "shards": args.shards,
        "servers": [{k: v for k, v in ep.items() if k != "token"} for ep in endpoints],
        "shard_results": {str(i): {k: v for k, v in r.items() if k != "tar"} for i, r in results.items()},
        "failures": {str(i): f for i, f in failures.items()},
        "seconds": {"servers_start": servers_ready - started, "shards": shards_done - servers_ready, "merge": merge_done - shards_done, "total": merge_done - started},
        "questions": questions,
        "questions_per_second": questions / (shards_done - servers_ready) if shards_done > servers_ready else None,
    }
    with open(os.path.join(out_root, "ray-job.json"), "w") as f:
        json.dump(job, f, indent=2)
    for h in handles:
        ray.kill(h, no_restart=True)
    if failures:
        SAY("%d shard(s) failed; run the same command again to resume them (finished questions are kept)" % len(failures))
        return 1
    return 0 if merged.returncode == 0 else 1
