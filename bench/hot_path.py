"""The hot path, side by side in one run: Clarion's explain against the floor a team would
otherwise run, a bare FastAPI + ONNX Runtime predict service.

1. Starts the bare predict service (``bench/bare_predict.py``: pydantic body, one ONNX
   Runtime session, no validation, no audit; uvicorn, one process, as written by hand)
   and ``clarion serve`` with its defaults (a worker per CPU, SQLite audit store), both
   on loopback, on the bundled models plus an XGBoost bundle with 100 background rows.
   Both run in this environment, so uvicorn gives both the same HTTP parser and event
   loop (httptools and uvloop, Clarion's dependencies); the first line printed says which.
2. For 1 and 16 concurrent clients (threads with keep-alive connections, in this
   process), sends ``german_credit`` rows for a fixed time: to the bare service's
   ``/predict`` and to Clarion's ``/explain`` (``output: raw``: exact TreeSHAP, reasons,
   narrative, the audit record), the two taking turns in one-second slices so that the
   host's drifting speed falls on both alike. Prints p50, p99 and throughput, and the
   ratios; each server's CPU time per request (every process and thread, from /proc) and
   how much of it its event loops took; and the medians of Clarion's ``Server-Timing``
   stages, which say where its share went.
   ``--rounds N`` repeats this step N times against the same two servers and ends with
   every round's ratios and their medians.
3. One 100-instance tree_shap request over HTTP against the same explanation computed
   in process by the engine (no HTTP, no audit; long-lived objects frozen for the
   garbage collector as the service freezes its own, ``service.heap``), the two in
   turns, medians over repeats: measured one after the other, the HTTP side caught
   the host in a slow spell in two runs of five (2.39x and 2.70x, where the others
   read 1.63-1.82x) while the in-process side, timed a few seconds later, did not.
4. tree_shap through the API on the XGBoost bundle (300 trees of depth 6, 30 features,
   100 background rows; 1,000 rows in requests of 100) against shap's TreeExplainer
   (interventional, same background) on the original XGBoost model, in turns.
5. Checks the audit store holds exactly one record per 2xx explanation.

Both servers and the clients share this machine's cores: compare within one run.

Usage: python bench/hot_path.py [--duration 20] [--rounds N] [--workers N] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from service.launch import (
    clean_environment,
    free_port,
    serve_command,
    stop,
    wait_until_ready,
    wait_until_warm,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BOOTSTRAP = "bench-bootstrap-admin-key-0123456789"


HEADERS = {"content-type": "application/json"}  # plus Clarion's app key, set in main()
SLICE_S = 1.0  # the two services take turns in slices this long (``alternate``)


def _post(
    conn: http.client.HTTPConnection, path: str, body: bytes
) -> tuple[http.client.HTTPResponse, bytes]:
    """POST ``body``; the answer (status, headers) and its body, read whole. A connection
    the server closed while it idled (uvicorn keeps one open 5 s) is opened again once."""
    try:
        conn.request("POST", path, body=body, headers=HEADERS)
        response = conn.getresponse()
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        conn.close()
        conn.request("POST", path, body=body, headers=HEADERS)
        response = conn.getresponse()
    return response, response.read()


_TICKS = os.sysconf("SC_CLK_TCK")  # /proc's unit of CPU time, per second


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) of a process and its descendants, from /proc: every thread,
    those that have ended too (a thread pool retires idle threads, and a sum over the
    living ones lost their time: the bare service once read 0.07 ms a request); and the
    part of it that their main threads took, where uvicorn runs each process's event loop
    (in ``clarion serve``'s supervisor, idle; the rest is compute and audit threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(stat[11]) + int(stat[12])) / _TICKS
    try:
        main = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        loop = (int(main[11]) + int(main[12])) / _TICKS
    except FileNotFoundError:  # the process is ending
        loop = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        for child in children:
            more, more_loop = cpu_seconds(int(child))
            total += more
            loop += more_loop
    return total, loop


def load(port: int, path: str, bodies: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads, each on its own keep-alive connection, for ``seconds``; the
    ``Server-Timing`` header of each answer is kept (Clarion's, where the time went)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stages: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        timed: list[str] = []
        seen: dict[int, int] = {}
        i = k
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            response, _ = _post(conn, path, bodies[i % len(bodies)])
            mine.append((time.perf_counter() - start) * 1000)
            seen[response.status] = seen.get(response.status, 0) + 1
            timed.append(response.getheader("server-timing") or "")
            i += clients
        conn.close()
        with lock:
            latencies.extend(mine)
            stages.extend(timed)
            for s, n in seen.items():
                statuses[s] = statuses.get(s, 0) + n

    begin = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    return {"latencies": latencies, "elapsed": elapsed, "statuses": statuses, "stages": stages}


Side = tuple[int, str, list[bytes], int]  # port, path, bodies, server pid


def alternate(a: Side, b: Side, clients: int, seconds: float) -> tuple[dict[str, Any], ...]:
    """``load`` on two services in alternating slices of ``SLICE_S``, ``seconds`` each in
    all: this host's speed drifts by a third over minutes (the same request took 3.1 ms
    and then 4.6 ms a minute later), and back-to-back phases would put that drift into
    the ratio. Latencies and answers are pooled per service; throughput over its slices;
    the server's CPU time (all its processes and threads) over the requests it answered."""
    pooled: list[dict[str, Any]] = [
        {"latencies": [], "statuses": {}, "elapsed": 0.0, "cpu": 0.0, "loop": 0.0, "stages": []},
        {"latencies": [], "statuses": {}, "elapsed": 0.0, "cpu": 0.0, "loop": 0.0, "stages": []},
    ]
    slices = max(1, round(seconds / SLICE_S))
    for _ in range(slices):
        for side, (port, path, bodies, pid) in zip(pooled, (a, b), strict=True):
            cpu, loop = cpu_seconds(pid)
            got = load(port, path, bodies, clients, seconds / slices)
            cpu_after, loop_after = cpu_seconds(pid)
            side["cpu"] += cpu_after - cpu
            side["loop"] += loop_after - loop
            side["latencies"] += got["latencies"]
            side["stages"] += got["stages"]
            side["elapsed"] += got["elapsed"]
            for status, n in got["statuses"].items():
                side["statuses"][status] = side["statuses"].get(status, 0) + n
    return _summary(pooled[0]), _summary(pooled[1])


def _summary(side: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(side["latencies"])
    return {
        "n": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "rps": len(latencies) / side["elapsed"],
        "cpu_ms": 1000 * side["cpu"] / len(latencies),
        "loop_ms": 1000 * side["loop"] / len(latencies),
        "statuses": side["statuses"],
        "stages": _stage_medians(side["stages"]),
    }


def _stage_medians(headers: list[str]) -> dict[str, float]:
    """Median of each ``Server-Timing`` stage (``validate;dur=0.1, compute;dur=0.7``)."""
    durations: dict[str, list[float]] = {}
    for header in headers:
        for part in filter(None, (p.strip() for p in header.split(","))):
            name, _, value = part.partition(";dur=")
            durations.setdefault(name, []).append(float(value))
    return {name: statistics.median(v) for name, v in durations.items()}


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


def _xgboost_bundle(models: Path) -> tuple[Any, Any, np.ndarray]:
    """An XGBoost bundle (300 trees, depth 6, 30 features) with 100 background rows."""
    from bench.tree_shap_bench import build_xgboost

    model, proto, card, X = build_xgboost(seed=0)
    folder = models / "bench_xgboost"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(proto.SerializeToString())
    features = "\n".join(f"- name: {f.name}" for f in card.features)
    (folder / "card.yaml").write_text(
        f"name: bench_xgboost\nversion: '1'\ntask: classification\nclasses: ['no', 'yes']\n"
        f"positive_class: 'yes'\noutput: {{default: raw}}\nfeatures:\n{features}\n",
        encoding="utf-8",
    )
    background = X[:100]
    header = ",".join(f.name for f in card.features)
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in background)
    (folder / "background.csv").write_text(f"{header}\n{rows}\n", encoding="utf-8")
    return model, card, X


def _in_turns(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Medians (ms) of each of ``fns`` run in turns, so that the host's drift (the same
    request takes half as long again in a slow spell) falls on all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


def server_stack() -> str:
    """What uvicorn runs on here ("auto" picks httptools and uvloop when installed)."""
    from importlib import metadata
    from importlib.util import find_spec

    http = "httptools" if find_spec("httptools") else "h11"
    loop = f"uvloop {metadata.version('uvloop')}" if find_spec("uvloop") else "asyncio's loop"
    return f"uvicorn {metadata.version('uvicorn')}, {http} {metadata.version(http)}, {loop}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    parser.add_argument("--workers", type=int, default=None, help="clarion serve --workers")
    parser.add_argument("--quick", action="store_true", help="5 s phases, fewer repeats")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the 1- and 16-client comparison this many times (the host drifts): "
        "each round's table, then every round's ratios and their medians",
    )
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.duration
    repeats = 5 if args.quick else 15
    print(f"server stack, both services: {server_stack()}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="clarion-hot-"))
    models = work / "models"
    shutil.copytree(ROOT / "models", models, ignore=shutil.ignore_patterns("*.py", "builders"))
    xgb_model, xgb_card, xgb_X = _xgboost_bundle(models)
    bare_port, clarion_port = free_port(), free_port()
    bare = _start(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.bare_predict:create_app",
         "--host", "127.0.0.1", "--port", str(bare_port), "--log-level", "warning"],
        clean_environment(BARE_BUNDLE=str(ROOT / "models" / "german_credit")),
        work / "bare.log",
    )  # fmt: skip
    env = clean_environment(
        CLARION_MODELS_DIR=str(models),
        CLARION_DATABASE_URL=f"sqlite:///{work / 'audit.db'}",
        CLARION_DATA_DIR=str(work),
        CLARION_LOG_LEVEL="warning",
        CLARION_BOOTSTRAP_ADMIN_KEY=BOOTSTRAP,
    )
    cold = not _numba_cache()  # a first start compiles the kernels, once per checkout
    began = time.perf_counter()
    clarion = _start(
        serve_command(host="127.0.0.1", port=clarion_port, workers=args.workers),
        env,
        work / "clarion.log",
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{bare_port}/health", bare, what="bare", timeout=60)
        wait_until_ready(
            f"http://127.0.0.1:{clarion_port}/health/ready", clarion, what="clarion", timeout=180
        )
        ready_s = time.perf_counter() - began
        first = " (the first start of this checkout: it compiled the numba kernels)" if cold else ""
        print(f"clarion serve ready after {ready_s:.1f} s{first}", flush=True)
        wait_until_warm(f"http://127.0.0.1:{clarion_port}/health/ready", timeout=180)
        # As a product backend calls it: with an app key (no per-key limit by default).
        conn = http.client.HTTPConnection("127.0.0.1", clarion_port, timeout=60)
        admin = {"content-type": "application/json", "authorization": f"Bearer {BOOTSTRAP}"}
        conn.request("POST", "/v1/keys", body=b'{"role": "app", "name": "bench"}', headers=admin)
        HEADERS["authorization"] = "Bearer " + json.loads(conn.getresponse().read())["key"]
        conn.request("GET", "/v1/models/german_credit/samples?limit=50", headers=HEADERS)
        instances = json.loads(conn.getresponse().read())["instances"]
        conn.close()
        bare_bodies = [json.dumps({"instances": [x]}).encode() for x in instances]
        explain_bodies = [
            json.dumps({"instances": [x], "output": "raw"}).encode() for x in instances
        ]
        # Same predictions from both: the floor computes what Clarion computes.
        _check_same_predictions(bare_port, clarion_port, instances[:5])
        explained_2xx = 0
        bare_load = (bare_port, "/predict", bare_bodies, bare.pid)
        clarion_load = (
            clarion_port,
            "/v1/models/german_credit/explain",
            explain_bodies,
            clarion.pid,
        )
        ratios: list[tuple[float, float, float]] = []  # per round: 1-client p50, 16 thru, p99
        for round_ in range(args.rounds):
            rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
            for clients in (1, 16):
                alternate(bare_load, clarion_load, clients, 2.0)  # warm
                b, c = alternate(bare_load, clarion_load, clients, seconds)
                rows.append((f"{clients} client(s)", b, c))
            which = f" (round {round_ + 1} of {args.rounds})" if args.rounds > 1 else ""
            _print_table(rows, which)
            (_, b1, c1), (_, b16, c16) = rows
            ratios.append((c1["p50"] / b1["p50"], c16["rps"] / b16["rps"], c16["p99"]))
            explained_2xx += sum(c["statuses"].get(200, 0) for _, _, c in rows)
        if args.rounds > 1:
            _print_rounds(ratios)

        explained_2xx += _hundred_rows(clarion_port, instances, repeats)
        explained_2xx += _xgboost(clarion_port, xgb_model, xgb_card, xgb_X, repeats)
    finally:
        stop(clarion, grace=30.0)
        stop(bare)
    with sqlite3.connect(work / "audit.db") as db:
        records = db.execute("select count(*) from explanation_records").fetchone()[0]
    print(
        f"\naudit: {records} records for {explained_2xx} explanations answered 200 (plus "
        f"warm-up ones): {'ok' if records >= explained_2xx else 'MISSING RECORDS'}"
    )
    shutil.rmtree(work, ignore_errors=True)


def _numba_cache() -> bool:
    """Whether numba has compiled kernels cached for this checkout (``cache=True``: next
    to the sources, or under ``NUMBA_CACHE_DIR``)."""
    where = os.environ.get("NUMBA_CACHE_DIR")
    return any((Path(where) if where else ROOT / "service").rglob("*.nbi"))


def _print_table(rows: list[tuple[str, dict[str, Any], dict[str, Any]]], which: str) -> None:
    print(
        "\n== one german_credit row: Clarion explain (tree_shap, raw, audited) vs bare predict"
        + which
    )
    print(
        f"{'':<12} {'bare p50':>9} {'p99':>8} {'req/s':>7} | {'clarion p50':>11} {'p99':>8} "
        f"{'expl/s':>7} | {'p50 x':>6} {'thru x':>6}"
    )
    for label, b, c in rows:
        print(
            f"{label:<12} {b['p50']:>8.2f}ms {b['p99']:>6.1f}ms {b['rps']:>7.0f} | "
            f"{c['p50']:>9.2f}ms {c['p99']:>6.1f}ms {c['rps']:>7.0f} | "
            f"{c['p50'] / b['p50']:>6.2f} {c['rps'] / b['rps']:>6.2f}"
        )
        print(
            f"{'':<12} server CPU per request (every process and thread): bare "
            f"{b['cpu_ms']:.2f} ms, clarion {c['cpu_ms']:.2f} ms "
            f"({c['cpu_ms'] / b['cpu_ms']:.2f}x); of it in event loops: bare "
            f"{b['loop_ms']:.2f} ms, clarion {c['loop_ms']:.2f} ms (the rest: compute and "
            "audit threads)"
        )
        if c["stages"]:
            inside = ", ".join(f"{k} {v:.2f}" for k, v in c["stages"].items())
            print(f"{'':<12} clarion Server-Timing medians (ms): {inside}")
        bad = {s: n for s, n in c["statuses"].items() if s != 200}
        if bad:
            print(f"   clarion non-200 answers: {bad}")
    print(
        "   targets: 1 client p50 ratio <= 3; 16 clients throughput ratio >= 0.5, "
        "clarion p99 <= 400 ms"
    )


def _print_rounds(ratios: list[tuple[float, float, float]]) -> None:
    """Every round's ratios side by side, and their medians: one run is one draw of a
    host whose speed drifts by a third over minutes."""
    print(f"\n== the {len(ratios)} rounds")
    for name, k, fmt in (
        ("1 client p50 ratio (target <= 3)", 0, "{:.2f}"),
        ("16 clients throughput ratio (target >= 0.5)", 1, "{:.2f}"),
        ("16 clients clarion p99 ms (target <= 400)", 2, "{:.0f}"),
    ):
        values = [r[k] for r in ratios]
        each = ", ".join(fmt.format(v) for v in values)
        print(f"{name:<44} {each}; median {fmt.format(statistics.median(values))}")


def _check_same_predictions(bare: int, clarion: int, instances: list[dict[str, Any]]) -> None:
    a = http.client.HTTPConnection("127.0.0.1", bare, timeout=60)
    b = http.client.HTTPConnection("127.0.0.1", clarion, timeout=60)
    body = json.dumps({"instances": instances}).encode()
    p = json.loads(_post(a, "/predict", body)[1])["predictions"]
    q = json.loads(_post(b, "/v1/models/german_credit/predict", body)[1])["predictions"]
    worst = max(
        abs(x["probabilities"][k] - y["probabilities"][k])
        for x, y in zip(p, q, strict=True)
        for k in x["probabilities"]
    )
    assert worst < 1e-6, f"the floor and Clarion disagree by {worst}"


def _hundred_rows(port: int, instances: list[dict[str, Any]], repeats: int) -> int:
    """One 100-instance request over HTTP against the engine in process."""
    from service.engine import Engine
    from service.heap import freeze_long_lived
    from service.models.registry import ModelRegistry
    from service.results import ExplainSpec
    from service.settings import Settings

    hundred = [instances[i % len(instances)] for i in range(100)]
    body = json.dumps({"instances": hundred, "output": "raw"}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    size = len(_post(conn, "/v1/models/german_credit/explain", body)[1])
    settings = Settings(models_dir=ROOT / "models", database_url="sqlite:///:memory:")
    registry = ModelRegistry(settings)
    registry.load_one("german_credit")
    engine = Engine(registry, settings)
    spec = ExplainSpec(output="raw")
    engine.explain("german_credit", hundred, spec, record=False)  # warm
    freeze_long_lived("bench")  # as the service does: both sides collect as little
    http_ms, local_ms = _in_turns(
        [
            lambda: _post(conn, "/v1/models/german_credit/explain", body),
            lambda: engine.explain("german_credit", hundred, spec, record=False),
        ],
        repeats,
    )
    print(f"\n== 100 german_credit rows in one tree_shap request (medians of {repeats})")
    print(
        f"HTTP {http_ms:.1f} ms ({size / 1024:.0f} KiB) vs in-process engine {local_ms:.1f} ms: "
        f"{http_ms / local_ms:.2f}x (target <= 2x)"
    )
    return repeats + 1


def _xgboost(port: int, model: Any, card: Any, X: np.ndarray, repeats: int) -> int:
    """tree_shap through the API (100 background rows) against shap's TreeExplainer."""
    import shap

    background, rows = X[:100], X[1000:2000]
    names = [f.name for f in card.features]
    bodies = [
        json.dumps(
            {"instances": [dict(zip(names, map(float, r), strict=True)) for r in rows[i : i + 100]],
             "output": "raw", "method": "tree_shap"}
        ).encode()
        for i in range(0, len(rows), 100)
    ]  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    ours = []
    for body in bodies:  # warm (first request per worker builds nothing: tables at load)
        response, data = _post(conn, "/v1/models/bench_xgboost/explain", body)
        assert response.status == 200, data[:300]
        ours.append(data)
    # A caller that wants the numbers only (as shap gives them) says compact: the people
    # layer (reasons, notices, narratives) is skipped; the record is written all the same.
    compact = [body[:-1] + b', "compact": true}' for body in bodies]
    for body in compact:
        response, data = _post(conn, "/v1/models/bench_xgboost/explain", body)
        assert response.status == 200, data[:300]
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.TreeExplainer(
        model, masker, feature_perturbation="interventional", model_output="raw"
    )
    shap_values = explainer.shap_values(rows)
    api_ms, compact_ms, shap_ms = _in_turns(
        [
            lambda: [_post(conn, "/v1/models/bench_xgboost/explain", b) for b in bodies],
            lambda: [_post(conn, "/v1/models/bench_xgboost/explain", b) for b in compact],
            lambda: explainer.shap_values(rows),
        ],
        3,
    )
    attributions = np.array(
        [
            [a["attribution"] for a in e["attributions"]]
            for data in ours
            for e in json.loads(data)["explanations"]
        ]
    )
    worst = float(np.max(np.abs(attributions - np.asarray(shap_values))))
    print("\n== XGBoost (300 trees, depth 6, 30 features), 1,000 rows, 100 background rows")
    print(
        f"Clarion tree_shap through the API {api_ms:.0f} ms vs shap TreeExplainer "
        f"{shap_ms:.0f} ms: {shap_ms / api_ms:.1f}x (target >= 8x); largest difference "
        f"{worst:.1e}"
    )
    print(
        f"the same with compact: true (numbers only) {compact_ms:.0f} ms: "
        f"{shap_ms / compact_ms:.1f}x"
    )
    return len(bodies) * 8


if __name__ == "__main__":
    main()
