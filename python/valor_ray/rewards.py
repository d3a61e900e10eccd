"""`python -m valor_ray serve-rewards`: `valor serve-rewards` replicas as Ray actors behind one
address, for python/valor_reward.py (VALOR_REWARD_URL / VALOR_REWARD_TOKEN).

The front is a small HTTP proxy in its own actor (standard library; Ray Serve needs extras the
mirror here does not have). POST /v1/reward: a batch is cut into one contiguous slice per healthy
replica, the slices are scored at once, and the results come back in the batch's order; a lone
item goes to the replica with the fewest items in flight. A replica that fails is asked for its
endpoint again (Ray restarts it) and its slice goes to another replica. GET /v1/health: the
front's state and each replica's. Same API and ready line as one `valor serve-rewards`.
"""

from __future__ import annotations

import hmac
import json
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ray

from valor_ray.jobs import SAY
from valor_ray.servers import RewardReplica, bind_host

MAX_BODY = 64 * 1024 * 1024


class _ReplicaDown(Exception):
    pass


@ray.remote(num_cpus=0, max_concurrency=4)
class RewardFront:
    def __init__(self, replicas, host, port, token):
        self.replicas = list(replicas)
        self.token = token or secrets.token_urlsafe(24)
        self.endpoints = [None] * len(self.replicas)
        self.load = [0] * len(self.replicas)
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max(4, 4 * len(self.replicas)))
        self.judge = "?"
        for i in range(len(self.replicas)):
            self._refresh(i, timeout_s=300)
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self):
                got = self.headers.get("Authorization", "")
                return hmac.compare_digest(got.encode("utf-8"), ("Bearer " + front.token).encode("utf-8"))

            def do_GET(self):
                if not self._authorized():
                    return self._send(401, _error("unauthorized", "missing or wrong bearer token: send the token of the front's ready line"))
                if self.path != "/v1/health":
                    return self._send(404, _error("not_found", "the reward front has POST /v1/reward and GET /v1/health"))
                return self._send(200, front.health())

            def do_POST(self):
                if not self._authorized():
                    return self._send(401, _error("unauthorized", "missing or wrong bearer token: send the token of the front's ready line"))
                if self.path != "/v1/reward":
                    return self._send(404, _error("not_found", "the reward front has POST /v1/reward and GET /v1/health"))
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > MAX_BODY:
                    return self._send(413 if length > MAX_BODY else 400, _error("bad_request", "send a JSON body of at most %d bytes" % MAX_BODY))
                try:
                    body = json.loads(self.rfile.read(length))
                    items = body["items"]
                    if not isinstance(items, list) or not items:
                        raise ValueError
                except (ValueError, KeyError, TypeError):
                    return self._send(400, _error("bad_request", 'the body must be JSON {"items": [...]}'))
                code, answer = front.score(body, items)
                return self._send(code, answer)

        host = bind_host(host)
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://%s:%d" % (host, self.server.server_address[1])

    def ready(self):
        return {"url": self.url, "token": self.token, "judge": self.judge}

    def _refresh(self, i, timeout_s=120):
        ep = ray.get(self.replicas[i].endpoint.remote(), timeout=timeout_s)
        with self.lock:
            self.endpoints[i] = ep
        self.judge = ep["detail"]
        return ep

    def health(self):
        reps = []
        for i, ep in enumerate(self.endpoints):
            reps.append({"index": i, "url": ep and ep["url"], "in_flight": self.load[i]})
        return {"ok": True, "kind": "valor-reward-front", "judge_model": self.judge, "replicas": reps}

    def _post(self, i, payload):
        ep = self.endpoints[i]
        req = urllib.request.Request(ep["url"] + "/v1/reward", data=json.dumps(payload).encode("utf-8"), method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + ep["token"])
        try:
            with urllib.request.urlopen(req, timeout=900) as res:
                return 200, json.loads(res.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            if e.code >= 500:
                raise _ReplicaDown("HTTP %d" % e.code) from None
            return e.code, json.loads(e.read().decode("utf-8") or "{}")
        except (urllib.error.URLError, OSError) as e:
            raise _ReplicaDown(str(e)) from None

    def _slice(self, payload, preferred):
        """Scores one slice, on `preferred` first, then on the others (refreshing a failed one)."""
        n = len(self.replicas)
        last = None
        for k in range(2 * n):
            i = (preferred + k) % n
            with self.lock:
                self.load[i] += len(payload["items"])
            try:
                return self._post(i, payload)
            except _ReplicaDown as e:
                last = "replica %d: %s" % (i, e)
                try:
                    self._refresh(i, timeout_s=60)
                except ray.exceptions.RayError:
                    time.sleep(0.5)
            finally:
                with self.lock:
                    self.load[i] -= len(payload["items"])
        return 503, _error("unavailable", "no reward replica answered (%s)" % last)

    def score(self, body, items):
        n = len(self.replicas)
        if len(items) == 1 or n == 1:
            with self.lock:
                first = min(range(n), key=lambda i: self.load[i])
            return self._slice(body, first)
        k = min(n, len(items))
        size = -(-len(items) // k)
        payloads = [dict(body, items=items[j : j + size]) for j in range(0, len(items), size)]
        answers = list(self.pool.map(lambda jp: self._slice(jp[1], jp[0] % n), enumerate(payloads)))
        for code, answer in answers:
            if code != 200:
                return code, answer
        results = [r for _, a in answers for r in a["results"]]
        return 200, {"results": results, "judge_model": answers[0][1].get("judge_model", self.judge), "ms": max(a.get("ms", 0) for _, a in answers)}


def _error(code, message):
    return {"error": {"code": code, "message": message}}


def run(args, project, settings):
    replicas = [
        RewardReplica.options(name="valor reward replica %d" % i, num_cpus=args.cpus_per_replica, max_restarts=args.replica_restarts, max_task_retries=0, scheduling_strategy="SPREAD").remote(
            i, project, settings, args.bind, list(args.replica_arg or [])
        )
        for i in range(args.replicas)
    ]
    for i, r in enumerate(replicas):
        ep = ray.get(r.endpoint.remote(), timeout=300)
        SAY("reward replica %d: %s on %s (pid %d, actor pid %d)" % (i, ep["url"], ep["node_ip"], ep["server_pid"], ep["actor_pid"]))
    front = RewardFront.options(name="valor reward front").remote(replicas, args.host, args.port, args.token)
    info = ray.get(front.ready.remote(), timeout=600)
    print("valor reward server ready at %s token=%s judge=%s" % (info["url"], info["token"], info["judge"]), flush=True)
    SAY("set VALOR_REWARD_URL=%s and VALOR_REWARD_TOKEN to the token above for valor_reward.py; Ctrl-C stops" % info["url"])
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(5.0):
        pass
    for h in [front, *replicas]:
        ray.kill(h, no_restart=True)
    return 0
