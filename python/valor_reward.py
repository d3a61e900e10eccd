"""VALOR's six rewards for verl, scored by a running `valor serve-rewards` service.

Use as verl's custom reward function (standard library only; nothing to install):

    custom_reward_function.path=/path/to/valor_reward.py
    custom_reward_function.name=compute_score              # one rollout per call
    # or, with reward_model.reward_manager=batch:
    custom_reward_function.name=compute_score_batch        # the whole batch in few requests

Environment:
    VALOR_REWARD_URL       the service, e.g. http://127.0.0.1:8765 (required)
    VALOR_REWARD_TOKEN     its bearer token (the token= in its ready line)
    VALOR_REWARD_TIMEOUT   seconds per HTTP request (default 600)
    VALOR_REWARD_ON_ERROR  what to do when a judge failed and the total is unknown:
                           "raise" (default) stops with the service's reason; "zero" scores 0.0
                           and marks the result incomplete=1.0. A failed judge is never a
                           silent 0: with "zero" the metrics show how often it happened.
    VALOR_REWARD_BATCH     items per HTTP request in compute_score_batch (default 256)

The question comes from extra_info["query"] (written by `valor export verl`; "problem" and
"question" are accepted too), the reply is `solution_str`. Each call returns a dict: "score"
(the total verl trains on) and the six components (format, syntax, spatial, attribute, logic,
adherence; -1.0 where a judge failed), plus "incomplete" (0.0 or 1.0). verl's reward managers
take "score" as the reward and log the other keys.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

COMPONENTS = ("format", "syntax", "spatial", "attribute", "logic", "adherence")


class ValorRewardError(RuntimeError):
    """The reward service could not score a rollout (unreachable, refused, or a judge failed)."""


def _config():
    url = os.environ.get("VALOR_REWARD_URL", "").strip().rstrip("/")
    if not url:
        raise ValorRewardError(
            "VALOR_REWARD_URL is not set: start `valor serve-rewards` and set VALOR_REWARD_URL "
            "(and VALOR_REWARD_TOKEN) to the URL and token in its ready line"
        )
    token = os.environ.get("VALOR_REWARD_TOKEN", "")
    timeout = float(os.environ.get("VALOR_REWARD_TIMEOUT", "600"))
    on_error = os.environ.get("VALOR_REWARD_ON_ERROR", "raise").strip().lower()
    if on_error not in ("raise", "zero"):
        raise ValorRewardError("VALOR_REWARD_ON_ERROR must be 'raise' or 'zero', got %r" % on_error)
    batch = int(os.environ.get("VALOR_REWARD_BATCH", "256"))
    return url, token, timeout, on_error, max(1, batch)


def _post(url, token, payload, timeout, attempts=3):
    body = json.dumps(payload).encode("utf-8")
    last = None
    for attempt in range(attempts):
        req = urllib.request.Request(url + "/v1/reward", data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return json.loads(res.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            try:
                detail = json.loads(detail)["error"]["message"]
            except Exception:
                pass
            # Client errors will not get better by asking again.
            if e.code < 500:
                raise ValorRewardError("the reward service at %s answered %d: %s" % (url, e.code, detail)) from None
            last = "HTTP %d: %s" % (e.code, detail)
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", e))
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    raise ValorRewardError("could not reach the reward service at %s after %d attempts (%s)" % (url, attempts, last))


def _query_of(extra_info):
    info = extra_info if isinstance(extra_info, dict) else {}
    for key in ("query", "problem", "question"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise ValorRewardError(
        "extra_info has no 'query': the judges need the question. Export the prompts with "
        "`valor export verl` (it writes extra_info.query), or add extra_info.query to your data"
    )


def _item(solution_str, extra_info, index):
    item = {"query": _query_of(extra_info), "reply": solution_str or "", "id": index}
    info = extra_info if isinstance(extra_info, dict) else {}
    image = info.get("image")
    if isinstance(image, str) and image:
        item["image"] = image
    return item


def _to_score(result, on_error):
    rewards = result.get("rewards", {})
    out = {}
    for name in COMPONENTS:
        value = rewards.get(name)
        out[name] = float(value) if value is not None else -1.0
    total = result.get("total")
    if total is None or result.get("incomplete"):
        if on_error == "raise":
            errors = result.get("errors") or {}
            reasons = "; ".join("%s: %s" % (k, v) for k, v in sorted(errors.items())) or "unknown"
            raise ValorRewardError("the total reward is incomplete because a judge failed (%s)" % reasons)
        out["score"] = 0.0
        out["incomplete"] = 1.0
    else:
        out["score"] = float(total)
        out["incomplete"] = 0.0
    return out


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's per-rollout reward function: VALOR's total for one reply, with its components."""
    url, token, timeout, on_error, _ = _config()
    response = _post(url, token, {"items": [_item(solution_str, extra_info, 0)]}, timeout)
    return _to_score(response["results"][0], on_error)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's batched reward function (reward_model.reward_manager=batch): one dict per rollout."""
    url, token, timeout, on_error, batch = _config()
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    items = [_item(solution_strs[i], infos[i], i) for i in range(n)]
    scores = [None] * n
    for start in range(0, n, batch):
        chunk = items[start : start + batch]
        response = _post(url, token, {"items": chunk}, timeout)
        for result in response["results"]:
            scores[int(result["id"])] = _to_score(result, on_error)
    return scores
