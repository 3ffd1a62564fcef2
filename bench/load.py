"""Load test: drive a running Clarion service on loopback from a second process.

Starts the real service (uvicorn, one process, the bundled models, a throwaway
SQLite audit store) once per ONNX Runtime thread setting, then runs a bounded
number of client threads for a bounded time each (default 16 and 64 clients for
60 s), sending a seeded mix of predict and explain requests over the example
models. For every phase it reports throughput, p50/p95/p99 latency, errors, and
whether the audit store holds exactly one record per 2xx explanation.

Both processes share this machine's cores, so compare settings within one run
(same machine, same minute), not against numbers from elsewhere.

Usage: python bench/load.py [--clients 16 64] [--duration 60] [--ort-threads 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from service.launch import (
    LaunchError,
    api_command,
    clean_environment,
    free_port,
    stop,
    wait_until_ready,
)

ROOT = Path(__file__).resolve().parent.parent

# (model, request body extras): tree models explained in raw space take tree_shap;
# hiring_screen (an MLP with 8 players) takes exact enumeration through ONNX Runtime.
EXPLAIN_MIX: list[tuple[str, dict[str, Any]]] = [
    ("german_credit", {"output": "raw"}),
    ("breast_cancer", {"output": "raw"}),
    ("diabetes_progression", {}),
    ("hiring_screen", {"output": "raw"}),
]


@dataclass
class Tally:
    """Latencies and outcomes of one phase, filled by all client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    explain_2xx: int = 0

    def add(self, op: str, ms: float, status: int | str) -> None:
        with self.lock:
            if isinstance(status, int) and 200 <= status < 300:
                self.latencies_ms.setdefault(op, []).append(ms)
                if op == "explain":
                    self.explain_2xx += 1
            else:
                key = f"{op}:{status}"
                self.errors[key] = self.errors.get(key, 0) + 1


def start_server(workdir: Path, ort_threads: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    db = workdir / f"audit-{ort_threads}.db"
    env = clean_environment(
        CLARION_MODELS_DIR=str(ROOT / "models"),
        CLARION_DATABASE_URL=f"sqlite:///{db}",
        CLARION_ORT_INTRA_OP_THREADS=str(ort_threads),
        CLARION_RATE_LIMIT_PER_MINUTE="100000000",
        CLARION_LOG_LEVEL="warning",
    )
    command = [*api_command(host="127.0.0.1", port=port), "--limit-concurrency", "1000"]
    with (workdir / f"server-{ort_threads}.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/health/ready", server, what="service", timeout=120)
    except LaunchError as exc:
        stop(server)
        raise SystemExit(f"{exc}; see {workdir}/server-{ort_threads}.log") from exc
    return server, url, db


def fetch_cases(url: str) -> dict[str, list[dict[str, Any]]]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return {
            name: client.get(f"/v1/models/{name}/samples", params={"limit": 50}).json()["instances"]
            for name, _ in EXPLAIN_MIX
        }


def client_loop(
    url: str,
    cases: dict[str, list[dict[str, Any]]],
    stop_at: float,
    seed: int,
    explain_share: float,
    tally: Tally,
) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.monotonic() < stop_at:
            model, extras = EXPLAIN_MIX[rng.randrange(len(EXPLAIN_MIX))]
            instance = cases[model][rng.randrange(len(cases[model]))]
            op = "explain" if rng.random() < explain_share else "predict"
            body: dict[str, Any] = {"instances": [instance]}
            if op == "explain":
                body |= extras
            start = time.perf_counter()
            try:
                status: int | str = client.post(f"/v1/models/{model}/{op}", json=body).status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            tally.add(op, (time.perf_counter() - start) * 1e3, status)


def count_records(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from explanation_records").fetchone()[0])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    url: str,
    db: Path,
    cases: dict[str, list[dict[str, Any]]],
    clients: int,
    duration: float,
    explain_share: float,
) -> dict[str, Any]:
    before = count_records(db)
    tally = Tally()
    stop_at = time.monotonic() + duration
    threads = [
        threading.Thread(
            target=client_loop, args=(url, cases, stop_at, i, explain_share, tally), daemon=True
        )
        for i in range(clients)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 180)
    elapsed = time.perf_counter() - start
    records = count_records(db) - before
    every = [ms for values in tally.latencies_ms.values() for ms in values]
    return {
        "clients": clients,
        "ok": len(every),
        "rps": len(every) / elapsed,
        "p50": statistics.median(every) if every else float("nan"),
        "p95": percentile(every, 0.95) if every else float("nan"),
        "p99": percentile(every, 0.99) if every else float("nan"),
        "by_op": {
            op: (len(v), statistics.median(v), percentile(v, 0.99))
            for op, v in sorted(tally.latencies_ms.items())
        },
        "errors": dict(tally.errors),
        "explain_2xx": tally.explain_2xx,
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[16, 64],
        help="client counts, one phase each (default: 16 64)",
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds per phase (default 60)"
    )
    parser.add_argument(
        "--ort-threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="CLARION_ORT_INTRA_OP_THREADS settings to compare (default: 1 2)",
    )
    parser.add_argument(
        "--explain-share",
        type=float,
        default=0.5,
        help="share of explain requests in the mix (default 0.5)",
    )
    parser.add_argument("--quick", action="store_true", help="4 and 16 clients, 10 s each")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.duration = [4, 16], 10.0
    workdir = Path(tempfile.mkdtemp(prefix="clarion-load-"))
    print(
        f"load: clients {args.clients}, {args.duration:g} s per phase, ORT intra-op threads "
        f"{args.ort_threads}, explain share {args.explain_share:.0%}; logs in {workdir}"
    )
    results: list[tuple[int, dict[str, Any]]] = []
    for ort_threads in args.ort_threads:
        server, url, db = start_server(workdir, ort_threads)
        try:
            cases = fetch_cases(url)
            with httpx.Client(base_url=url, timeout=120) as warm:  # build tree tables, JIT
                for model, extras in EXPLAIN_MIX:
                    warm.post(
                        f"/v1/models/{model}/explain",
                        json={"instances": cases[model][:1], **extras},
                    )
            for clients in args.clients:
                print(f"-- ORT threads {ort_threads}, {clients} clients ...", flush=True)
                result = run_phase(url, db, cases, clients, args.duration, args.explain_share)
                results.append((ort_threads, result))
                ops = ", ".join(
                    f"{op} n={n} p50 {p50:.0f} ms p99 {p99:.0f} ms"
                    for op, (n, p50, p99) in result["by_op"].items()
                )
                print(f"   {ops}; errors {result['errors'] or 'none'}", flush=True)
        finally:
            stop(server)
    print()
    print(
        "ort_threads clients   req/s    p50 ms   p95 ms   p99 ms  errors  "
        "explain_2xx  records  lost"
    )
    for ort_threads, r in results:
        errors = sum(r["errors"].values())
        lost = r["explain_2xx"] - r["records"]
        print(
            f"{ort_threads:>11} {r['clients']:>7} {r['rps']:>7.1f} {r['p50']:>9.1f} "
            f"{r['p95']:>8.1f} {r['p99']:>8.1f} {errors:>7} {r['explain_2xx']:>12} "
            f"{r['records']:>8} {lost:>5}"
        )
    by_clients: dict[int, dict[int, float]] = {}
    for ort_threads, r in results:
        by_clients.setdefault(r["clients"], {})[ort_threads] = r["rps"]
    for clients, per in sorted(by_clients.items()):
        if len(per) > 1:
            base = per[min(per)]
            ratios = ", ".join(f"{t} threads {rps / base:.2f}x" for t, rps in sorted(per.items()))
            print(f"throughput at {clients} clients relative to {min(per)} thread(s): {ratios}")


if __name__ == "__main__":
    main()
