"""Where an explain request's time goes: the real service under py-spy, N requests, top costs.

Starts the service as ``clarion serve`` would (uvicorn, the bundled models, a throwaway
SQLite audit store), warms it up, attaches ``py-spy record`` (every thread) while N
``german_credit`` explain requests (tree_shap, raw) are sent one after another,
and prints the share of samples per stage of the request (HTTP and middleware,
validation, explanation, what people read, mapping and JSON, audit write) and the
functions with the most samples of their own. Shares, not times: the machine is shared.

Needs py-spy (``pip install py-spy``); runs as the user who may trace its own children.

Usage: python bench/profile_explain.py [--requests 1000] [--rate 200] [--instances 1]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from service.launch import (
    api_command,
    clean_environment,
    free_port,
    stop,
    wait_until_ready,
    wait_until_warm,
)

ROOT = Path(__file__).resolve().parent.parent
KEY = "profile-bootstrap-key-0123456789"

# A stage is named by the first frame (from the top of the stack) matching one of these.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("audit write", ("service/audit/",)),
    ("what people read", ("service/people/",)),
    ("html", ("service/html/",)),
    ("explanation", ("service/explain/", "onnxruntime", "service/models/runtime")),
    ("validation", ("service/models/instances", "pydantic/main.py:model_validate")),
    ("mapping and JSON", ("service/wire/", "json/", "orjson", "fastapi/encoders", "pydantic")),
    ("engine", ("service/engine",)),
    ("HTTP, FastAPI, middleware", ("uvicorn", "starlette", "fastapi", "service/api/", "h11")),
]


def _stage(stack: list[str]) -> str:
    for name, markers in STAGES:
        if any(marker in frame for frame in stack for marker in markers):
            return name
    return "other (idle threads excluded)"


def _idle(stack: list[str]) -> bool:
    """A thread waiting (a lock, a condition, a queue, the selector) uses no CPU, whoever
    called it: the ONNX Runtime watchdog waits in ``Condition.wait`` from service code,
    and counting it as busy made a third of the samples look like "explanation".

    Under uvloop the loop waits in C, below ``Runner.run``: py-spy (without ``--native``)
    sees that frame alone whether the loop waits or runs its own C code, so it counts as
    waiting here, and the shares are of the Python work."""
    leaf = stack[-1] if stack else ""
    idle = ("select", "poll", "wait", "_worker", "acquire", "sleep", "epoll", "accept")
    return any(word in leaf for word in idle) or leaf.startswith("Runner.run (asyncio/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="explain requests to send")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--instances", type=int, default=1, help="instances per request")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    args = parser.parse_args()
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        out = Path(tmp) / "stacks.txt"
        env = clean_environment(
            CLARION_MODELS_DIR=str(ROOT / "models"),
            CLARION_DATABASE_URL=f"sqlite:///{tmp}/audit.db",
            CLARION_DATA_DIR=tmp,
            CLARION_BOOTSTRAP_ADMIN_KEY=KEY,  # called with a key, as a product backend does
        )
        log = (Path(tmp) / "service.log").open("wb")  # a slow reader of a pipe would stall it
        server = subprocess.Popen(
            api_command(host="127.0.0.1", port=port), env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        spying: subprocess.Popen[bytes] | None = None
        try:
            wait_until_ready(f"{base}/health/ready", server, what="service", timeout=120)
            wait_until_warm(f"{base}/health/ready", timeout=120)  # imports stay out
            auth = {"authorization": f"Bearer {KEY}"}
            with httpx.Client(base_url=base, timeout=60, headers=auth) as client:
                sample = client.get("/v1/models/german_credit/samples?limit=1").json()
                instance = sample["instances"][0]
                body = {"instances": [instance] * args.instances, "output": "raw"}
                for _ in range(50):  # warm: first-call compilation and caches stay out
                    client.post("/v1/models/german_credit/explain", json=body).raise_for_status()
                command = [spy, "record", "--format", "raw", "--rate", str(args.rate)]
                command += ["--threads", "--output", str(out), "--pid", str(server.pid)]
                spying = subprocess.Popen(command, stdout=subprocess.DEVNULL)
                time.sleep(1.0)  # py-spy attaches
                latencies = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    response = client.post("/v1/models/german_credit/explain", json=body)
                    latencies.append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
        finally:
            if spying is not None:
                spying.send_signal(signal.SIGINT)
                spying.wait(timeout=60)
            stop(server, grace=30.0)
            log.close()
        latencies.sort()
        print(
            f"{args.requests} requests of {args.instances} instance(s): client p50 "
            f"{latencies[len(latencies) // 2]:.2f} ms (under py-spy, slower than without)"
        )
        stages: collections.Counter[str] = collections.Counter()
        own: collections.Counter[str] = collections.Counter()
        total = 0
        for line in out.read_text(encoding="utf-8").splitlines():
            stack_text, _, count_text = line.rpartition(" ")
            frames = [f for f in stack_text.split(";") if f]
            if not frames or _idle(frames):
                continue
            count = int(count_text)
            total += count
            stages[_stage(frames[1:])] += count
            own[frames[-1]] += count
        if total == 0:
            sys.exit("py-spy recorded no busy samples")
        print(f"\nbusy samples: {total}\n\nshare by stage (first matching frame from the top):")
        for name, count in stages.most_common():
            print(f"  {name:<34} {100 * count / total:5.1f}%")
        print(f"\ntop {args.top} functions by own samples:")
        for name, count in own.most_common(args.top):
            print(f"  {100 * count / total:5.1f}%  {name[:150]}")


if __name__ == "__main__":
    main()
