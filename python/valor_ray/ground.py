"""`python -m valor_ray ground`: VALOR's grounding verifier (`valor verify-boxes`) over many
images. The input lines are dealt to shards (line k to shard k mod n); each shard is a Ray task
that appends one grounding result per line to its own grounding-shard-i.jsonl, skipping what is
already there, so a retried task only does the rest. The driver then exports all shard files as
one ODVG dataset with `valor export odvg` (which applies the driver's audit overrides)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import ray

from valor_ray.jobs import SAY, ProgressBoard, ShardFailed, ShardSetupError, endpoint_of, new_job_key, placement_for, shard_dir, start_tool_servers, wait_all
from valor_ray.procs import child_preexec
from valor_ray.project import child_env, cli_argv


def read_items(path, images):
    """(line number, absolute image path, prompt) per usable line; raises ShardSetupError naming bad lines."""
    items, bad = [], []
    with open(path) as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                v = json.loads(line)
                image, prompt = v["image"], v["prompt"]
                if not isinstance(image, str) or not isinstance(prompt, str) or not prompt.strip():
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                bad.append(no)
                continue
            items.append((no, image if os.path.isabs(image) else os.path.join(images, image), prompt))
    if bad:
        raise ShardSetupError('%s: line(s) %s are not {"image": PATH, "prompt": "a, b"}' % (path, ", ".join(map(str, bad[:20]))))
    if not items:
        raise ShardSetupError("%s holds no images to verify" % path)
    return items


def _done_keys(path):
    """Keys (image, prompt) already in a shard file; a torn last line (a crash mid-write) is cut off."""
    keys = set()
    if not os.path.exists(path):
        return keys
    with open(path, "rb") as f:
        data = f.read()
    good = data[: data.rfind(b"\n") + 1]
    if len(good) != len(data):
        with open(path, "wb") as f:
            f.write(good)
    for line in good.decode("utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            keys.add((r["source"]["image"], r["source"]["prompt"]))
    return keys


@ray.remote(num_cpus=1)
def ground_shard(spec, index, items, server, board):
    """Verifies the boxes of `items` (line, image, prompt) into this shard's JSONL file."""
    folder, shared = shard_dir(spec["out"], spec["job_key"], "grounding")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "grounding-shard-%d.jsonl" % index)
    node_ip = ray.util.get_node_ip_address()
    lock = threading.Lock()
    failed = {}
    # Lines `valor verify-boxes` refused as given (exit 2: a missing or unreadable image, say):
    # asking again cannot help, so they are reported, not retried.
    skipped = {}
    for attempt in range(1, spec["attempts"] + 1):
        done = _done_keys(path)
        todo = [it for it in items if (it[1], it[2]) not in done and it[0] not in skipped]
        board.update.remote(index, {"state": "running", "attempt": attempt, "done": len(done), "selected": len(items), "node": node_ip})
        if not todo:
            break
        ep = endpoint_of(server)
        env = child_env(spec["settings"], {"VALOR_TOOLS_TOKEN": ep["token"]})
        cwd = tempfile.mkdtemp(prefix="valor-ground-")
        failed = {}

        def one(item, _ep=ep, _env=env, _cwd=cwd, _failed=failed, _done=done):
            line, image, prompt = item
            argv = cli_argv(spec["project"], "verify-boxes", "--image", image, "--prompt", prompt, "--json", "--tools-url", _ep["url"], *spec["verify_args"])
            r = subprocess.run(argv, env=_env, cwd=_cwd, capture_output=True, text=True, preexec_fn=child_preexec())
            if r.returncode != 0:
                why = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
                (skipped if r.returncode == 2 else _failed)[line] = why
                return
            result = json.loads(r.stdout)
            # Where it came from, so a resumed shard knows it is done (export odvg ignores it).
            result["source"] = {"line": line, "image": image, "prompt": prompt}
            with lock:
                with open(path, "a") as f:
                    f.write(json.dumps(result) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                _done.add((image, prompt))
                board.update.remote(index, {"done": len(_done)})

        with ThreadPoolExecutor(spec["concurrency"]) as pool:
            list(pool.map(one, todo))
        shutil.rmtree(cwd, ignore_errors=True)
        if not failed:
            break
        board.update.remote(index, {"state": "retrying", "reason": "%d image(s) failed, e.g. line %d: %s" % (len(failed), *next(iter(failed.items())))})
        time.sleep(min(10.0, attempt))
    if failed:
        board.update.remote(index, {"state": "failed"})
        raise ShardFailed("grounding shard %d: %d image(s) still failing after %d attempts, e.g. line %d: %s" % (index, len(failed), spec["attempts"], *next(iter(failed.items()))))
    board.update.remote(index, {"state": "done", "done": len(items) - len(skipped)})
    data = None
    if not shared and os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
    return {"index": index, "path": path, "node": node_ip, "data": data, "skipped": skipped}


def _progress_line(n):
    def line(snapshot):
        done = sum(s.get("done", 0) for s in snapshot.values())
        total = sum(s.get("selected", 0) for s in snapshot.values())
        parts = ["%d/%d images verified" % (done, total)]
        for i in range(n):
            s = snapshot.get(i, {})
            parts.append("shard %d/%d: %s %s/%s%s" % (i, n, s.get("state", "waiting"), s.get("done", 0), s.get("selected", "?"), " (%s)" % s["reason"] if s.get("state") == "retrying" else ""))
        return "; ".join(parts)

    return line


def run(args, project, settings):
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    images = os.path.abspath(args.images) if args.images else os.path.dirname(os.path.abspath(args.file))
    items = read_items(os.path.abspath(args.file), images)
    job_key = new_job_key(out_root)
    handles, endpoints = start_tool_servers(args, project, settings)
    for ep in endpoints:
        SAY("tool server %d: %s on %s (pid %d, actor pid %d, device %s)" % (ep["index"], ep["url"], ep["node_ip"], ep["server_pid"], ep["actor_pid"], ep["detail"]))
    spec = {"project": project, "out": out_root, "job_key": job_key, "settings": settings, "concurrency": args.concurrency, "attempts": args.attempts, "verify_args": list(args.verify_arg or [])}
    board = ProgressBoard.options(name="valor ground progress").remote()
    n = min(args.shards, len(items))
    refs = {}
    for i in range(n):
        s = i % len(handles)
        refs[i] = ground_shard.options(
            name="valor verify-boxes shard %d/%d (%d images, tool server %d)" % (i, n, len(items[i::n]), s),
            num_cpus=args.shard_cpus,
            max_retries=args.retries,
            retry_exceptions=[ShardFailed],
            scheduling_strategy=placement_for(endpoints[s], args.bind),
        ).remote(spec, i, items[i::n], handles[s], board)
    results, failures = wait_all(refs, board, _progress_line(n), handles, SAY)
    for h in handles:
        ray.kill(h, no_restart=True)
    files = []
    for i in range(n):
        path = os.path.join(out_root, "grounding", "grounding-shard-%d.jsonl" % i)
        r = results.get(i)
        if r and r["data"] is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(r["data"])
        if os.path.exists(path):
            files.append(path)
    for i, why in sorted(failures.items()):
        SAY("shard %d/%d failed: %s" % (i, n, why))
    for r in results.values():
        for line, why in sorted(r["skipped"].items()):
            SAY("%s:%d skipped: %s" % (args.file, line, why))
    if not files:
        return 1
    argv = cli_argv(project, "export", "odvg", *files, "--out", os.path.join(out_root, "odvg"))
    if args.image_root:
        argv += ["--image-root", os.path.abspath(args.image_root)]
    if args.audit:
        argv += ["--audit", os.path.abspath(args.audit)]
    exported = subprocess.run(argv, env=child_env(settings), capture_output=True, text=True)
    for line in exported.stdout.splitlines():
        print(line)
    if exported.returncode != 0:
        SAY("valor export odvg failed: %s" % exported.stderr.strip())
        return 1
    if failures:
        SAY("%d shard(s) failed; run the same command again to resume them (verified images are kept)" % len(failures))
        return 1
    return 0
