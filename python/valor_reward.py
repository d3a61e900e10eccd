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
    VALOR_REWARD_ON_ERROR  what a rollout scores when a judge failed and its total is unknown:
                           "fail" (default; "raise" is the same): the step stops with the reasons;
                           "zero": the rollout scores 0.0 (GRPO takes it as a real reward);
                           "drop": (compute_score_batch only) the rollout scores the mean of the
                           other rollouts of its prompt, so its GRPO advantage is 0 and it does
                           not push the policy either way. Every result carries
                           judge_failed (1.0 or 0.0): its mean is the failure rate.
    VALOR_REWARD_BATCH     items per HTTP request in compute_score_batch (default 256)

The question comes from extra_info["query"] (written by `valor export verl`; "problem" and
"question" are accepted too), the reply is `solution_str`. Each call returns a dict: "score"
(the value verl trains on), the six components (format, syntax, spatial, attribute, logic,
adherence: 1.0/0.0 (format 0.5 for a repeated tag); NaN where the judge failed, so a failed
judge is never averaged as a score; 0.0 for judges not called because the format gate was 0),
"judge_failed" (1.0 when a judge failed) and "format_gated" (1.0 when format was 0 and no judge
was called). verl's reward managers take "score" as the reward and log the other keys.

Failing once: verl's compute_reward catches an exception from the reward manager, prints it and
calls the manager again on the same batch. A setup error (service unreachable, token refused,
bad settings) or a failed batch in "fail" mode is remembered, and the identical call that
follows is answered with the same error at once, without asking the service again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request

COMPONENTS = ("format", "syntax", "spatial", "attribute", "logic", "adherence")


class ValorRewardError(RuntimeError):
    """The reward service could not score a rollout (a judge failed)."""


class ValorRewardSetupError(ValorRewardError):
    """The reward service cannot be used as configured (unreachable, token refused, bad settings)."""


MODES = ("fail", "zero", "drop")

# The last failed request: (fingerprint, error). verl calls the reward manager a second time on
# the same batch after an exception; that call gets the same error without a second request.
_last_failure = None


def _config():
    url = os.environ.get("VALOR_REWARD_URL", "").strip().rstrip("/")
    if not url:
        raise ValorRewardSetupError(
            "VALOR_REWARD_URL is not set: start `valor serve-rewards` and set VALOR_REWARD_URL "
            "(and VALOR_REWARD_TOKEN) to the URL and token in its ready line"
        )
    token = os.environ.get("VALOR_REWARD_TOKEN", "")
    try:
        timeout = float(os.environ.get("VALOR_REWARD_TIMEOUT", "600"))
        batch = int(os.environ.get("VALOR_REWARD_BATCH", "256"))
    except ValueError as e:
        raise ValorRewardSetupError("VALOR_REWARD_TIMEOUT / VALOR_REWARD_BATCH must be numbers (%s)" % e) from None
    on_error = os.environ.get("VALOR_REWARD_ON_ERROR", "fail").strip().lower()
    if on_error == "raise":
        on_error = "fail"
    if on_error not in MODES:
        raise ValorRewardSetupError("VALOR_REWARD_ON_ERROR must be 'fail', 'zero' or 'drop', got %r" % on_error)
    return url, token, timeout, on_error, max(1, batch)


def _fingerprint(url, payload):
    return hashlib.sha256((url + "\0" + json.dumps(payload, sort_keys=True)).encode("utf-8")).hexdigest()


# How long a failure is replayed for its identical call (verl's retry follows at once).
REPLAY_SECONDS = 300.0


def _remembered(fingerprint):
    global _last_failure
    if _last_failure is None:
        return
    fp, error, at = _last_failure
    if fp == fingerprint and time.monotonic() - at < REPLAY_SECONDS:
        raise error
    _last_failure = None


def _remember(fingerprint, error):
    global _last_failure
    _last_failure = (fingerprint, error, time.monotonic())
    return error


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
            if e.code in (401, 403):
                raise ValorRewardSetupError(
                    "the reward service at %s refused the token (HTTP %d: %s): set VALOR_REWARD_TOKEN to the "
                    "token= in the ready line of `valor serve-rewards`" % (url, e.code, detail)
                ) from None
            # Client errors will not get better by asking again.
            if e.code < 500:
                raise ValorRewardSetupError("the reward service at %s answered %d: %s" % (url, e.code, detail)) from None
            last = "HTTP %d: %s" % (e.code, detail)
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", e))
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    raise ValorRewardSetupError(
        "could not reach the reward service at %s after %d attempts (%s): start `valor serve-rewards` "
        "where the trainer can reach it and set VALOR_REWARD_URL to its address" % (url, attempts, last)
    )


def _query_of(extra_info):
    info = extra_info if isinstance(extra_info, dict) else {}
    for key in ("query", "problem", "question"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise ValorRewardSetupError(
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


def _failed(result):
    return result.get("total") is None or bool(result.get("incomplete"))


def _reasons(result):
    errors = result.get("errors") or {}
    return "; ".join("%s: %s" % (k, v) for k, v in sorted(errors.items())) or "unknown"


def _to_score(result):
    """The dict verl logs; "score" is None when the total is unknown (the caller decides)."""
    rewards = result.get("rewards", {})
    skipped = set(result.get("skipped") or [])
    out = {}
    for name in COMPONENTS:
        value = rewards.get(name)
        if value is not None:
            out[name] = float(value)
        elif name in skipped:
            out[name] = 0.0
        else:
            out[name] = float("nan")
    failed = _failed(result)
    out["score"] = None if failed else float(result["total"])
    out["judge_failed"] = 1.0 if failed else 0.0
    out["format_gated"] = 1.0 if skipped else 0.0
    return out


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl's per-rollout reward function: VALOR's total for one reply, with its components."""
    url, token, timeout, on_error, _ = _config()
    if on_error == "drop":
        raise ValorRewardSetupError(
            "VALOR_REWARD_ON_ERROR=drop needs the whole group of rollouts: use reward_model.reward_manager=batch "
            "with custom_reward_function.name=compute_score_batch, or choose fail / zero"
        )
    payload = {"items": [_item(solution_str, extra_info, 0)]}
    fp = _fingerprint(url, payload)
    _remembered(fp)
    try:
        response = _post(url, token, payload, timeout)
    except ValorRewardError as e:
        raise _remember(fp, e) from None
    result = response["results"][0]
    out = _to_score(result)
    if out["score"] is None:
        if on_error == "fail":
            raise _remember(fp, ValorRewardError("the total reward is incomplete because a judge failed (%s)" % _reasons(result)))
        out["score"] = 0.0
    return out


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's batched reward function (reward_model.reward_manager=batch): one dict per rollout."""
    url, token, timeout, on_error, batch = _config()
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    items = [_item(solution_strs[i], infos[i], i) for i in range(n)]
    fp = _fingerprint(url, {"items": items})
    _remembered(fp)
    results = [None] * n
    try:
        for start in range(0, n, batch):
            response = _post(url, token, {"items": items[start : start + batch]}, timeout)
            for result in response["results"]:
                results[int(result["id"])] = result
    except ValorRewardError as e:
        raise _remember(fp, e) from None
    scores = [_to_score(r) for r in results]
    failed = [i for i, s in enumerate(scores) if s["score"] is None]
    if failed and on_error == "fail":
        first = results[failed[0]]
        raise _remember(
            fp,
            ValorRewardError(
                "%d of %d rollouts have no total reward because a judge failed (first: %s); set "
                "VALOR_REWARD_ON_ERROR=drop or zero to train on" % (len(failed), n, _reasons(first))
            ),
        )
    if failed and on_error == "drop":
        # Rollouts of one prompt share their question, image and extra_info index: GRPO's group.
        groups = {}
        for i in range(n):
            info = infos[i] if isinstance(infos[i], dict) else {}
            key = (items[i]["query"], items[i].get("image"), info.get("index"))
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            known = [scores[i]["score"] for i in members if scores[i]["score"] is not None]
            fill = sum(known) / len(known) if known else 0.0
            for i in members:
                if scores[i]["score"] is None:
                    scores[i]["score"] = fill
    for s in scores:
        if s["score"] is None:
            s["score"] = 0.0
    return scores
