"""Serving speed: the cxml BentoML service against ``mlflow models serve`` of the same model and the model in-process.

One run on 127.0.0.1, in a temporary workspace: simulate a company (``write_company``), train the churn champion
on its customer-360 features (49 columns, 1 Optuna trial: the speed of serving, not the model, is measured here),
export it with the feature snapshot, then

  (a) ``bentoml serve`` of the cxml service: CXML_WORKERS = cores, access log off
      (``BENTOML_CONFIG_OPTIONS=services.logging.access.enabled=false``), no adaptive batching;
  (b) ``mlflow models serve --env-manager local -m models:/cxml.churn/<v> -w <cores>`` (the registered model,
      ``{"dataframe_split": ...}`` on /invocations), OMP_NUM_THREADS=1 like (a) so neither oversubscribes;
  (c) in-process: ``ChurnScorer.score`` on the same requests, and the raw estimator (``predict_proba`` on a
      one-row frame and ``predict_record``), loaded exactly as the service loads it (nthread=1).

Single-row churn scoring (a feature record, no reasons: what (b) computes too) at concurrency 1 and 16, then
/churn_batch with 1,000 rows (as ``items`` and as the table form) against in-process ``predict_proba`` on the same
1,000 rows. The load generator is one asyncio process (aiohttp; ``--client httpx`` for the heavier
httpx.AsyncClient) on the same cores as the servers: client and server share the machine, and the table shows how
much of a core the load generator took.

``--reasons`` runs only /churn by customer id with 3 reasons (and without) at concurrency 16, looked up in the
reasons ``cxml build`` precomputed for the snapshot against the same champion exported without them (explained on
demand), one server after the other in the same run (target: ≥ 800 req/s, p99 ≤ 50 ms, 0 errors, same answers).

``--soak [SECONDS]`` (default 60) runs the robustness soak instead: concurrency 16 on (a) for SECONDS with at
most ``--soak-max-requests``, zero errors, and the resident memory of the server's process tree (psutil) at start
(after a warm-up) against the end (target: growth < 10 %).

  .venv/bin/python bench/serving.py [--customers 5000] [--requests 2000] [--keep DIR]
  .venv/bin/python bench/serving.py --soak 60
  .venv/bin/python bench/serving.py --reasons --requests 6000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CORES = len(os.sched_getaffinity(0))
WORKERS = CORES  # server worker processes, one per core (--workers)
CLIENT = "aiohttp"  # the load generator's HTTP client (--client)
TARGET_RATIO, TARGET_P99_MS, TARGET_BATCH_SHARE, TARGET_GROWTH = 3.0, 50.0, 0.5, 0.10
BATCH_ROWS = 1000


# --- setup: a realistic champion, exported as the service serves it ----------------------------------------------


@dataclass
class Setup:
    ws: Any
    manifest: Path
    model_name: str
    version: str
    snapshot: pd.DataFrame
    """Every customer's served features (index = customer id), in the model's column order."""


def build(root: Path, customers: int) -> Setup:
    """Simulated company → churn champion (1 trial) → exported champion + snapshot + manifest, in ``root``."""
    from cxml.config import TrainRequest, Workspace
    from cxml.data.synthetic import write_company
    from cxml.jobs.export import export_for_serving
    from cxml.jobs.snapshot import read_snapshot, run_snapshot
    from cxml.jobs.train import run_train

    ws = Workspace(root / "ws")
    marker = root / "setup.json"
    if marker.exists():  # --keep DIR of an earlier run: serve what it trained
        built = json.loads(marker.read_text())
        if built["customers"] != customers:
            raise ValueError(f"{root} holds a run with {built['customers']} customers, not {customers}")
        return Setup(ws, root / "served.json", built["model"], built["version"], read_snapshot(ws)[0])
    write_company(ws.data, customers, seed=0)
    result = run_train(TrainRequest(family="churn", data=ws.data, trials=1), ws)
    if not result.gate.passed:
        raise RuntimeError(f"the churn model did not pass its gate, nothing to serve: {result.gate.reason}")
    manifest = root / "served.json"
    run_snapshot(ws)
    export_for_serving(ws, manifest)
    marker.write_text(json.dumps({"customers": customers, "model": result.model_name, "version": result.model_version}))
    return Setup(ws, manifest, result.model_name, result.model_version, read_snapshot(ws)[0])


def load_scorer(setup: Setup) -> Any:
    """The ChurnScorer exactly as the service builds it (single-threaded boosters)."""
    from cxml.serving import store
    from cxml.serving.scoring import load_churn_scorer

    tags = store.read_manifest(setup.manifest)
    models = store.model_store(setup.ws)
    return load_churn_scorer(models.get(tags["churn"]), models.get(tags["snapshot"]))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready feature records: numbers as floats (MLflow's signature declares doubles), NaN as null."""
    from cxml.pyfunc import model_input

    rows = model_input(frame).astype(object).where(frame.notna(), None)
    return [dict(zip(rows.columns, row, strict=True)) for row in rows.itertuples(index=False, name=None)]


# --- servers -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]

    def rss(self) -> int:
        """Resident memory of the server and every process it started (workers), in bytes."""
        root = psutil.Process(self.proc.pid)
        total = 0
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total


@contextlib.contextmanager
def serve(name: str, cmd: Callable[[int], list[str]], env: dict[str, str], ready: str, log: Path) -> Iterator[Server]:
    """Start ``cmd(port)`` in its own process group, wait until ``ready`` answers 200, stop the group afterwards."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd(port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(url + ready, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready after 120 s: {log.read_text()[-3000:]}")
                time.sleep(0.5)
            yield Server(name, url, proc)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: the group started here
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def bento(setup: Setup, log: Path, manifest: Path | None = None) -> contextlib.AbstractContextManager[Server]:
    from cxml.jobs.export import serve_command

    env = {
        **os.environ,
        "BENTOML_HOME": str(setup.ws.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "BENTOML_CONFIG_OPTIONS": "services.logging.access.enabled=false",
        "CXML_MANIFEST": str(manifest or setup.manifest),
        "CXML_WORKERS": str(WORKERS),
        "PYTHONPATH": str(ROOT / "src"),
    }
    return serve("bentoml serve (cxml)", lambda port: serve_command("127.0.0.1", port), env, "/readyz", log)


def mlflow_server(setup: Setup, log: Path) -> contextlib.AbstractContextManager[Server]:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # it execs uvicorn from the venv
        "MLFLOW_TRACKING_URI": setup.ws.tracking_uri,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    uri = f"models:/{setup.model_name}/{setup.version}"

    def cmd(port: int) -> list[str]:
        serve = [str(VENV_BIN / "mlflow"), "models", "serve", "--env-manager", "local", "-m", uri]
        return [*serve, "-h", "127.0.0.1", "-p", str(port), "-w", str(WORKERS)]

    return serve("mlflow models serve", cmd, env, "/ping", log)


# --- load generation -------------------------------------------------------------------------------------------------


@dataclass
class Stats:
    label: str
    concurrency: int
    n: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    error_examples: list[str] = field(default_factory=list)
    client_cpu: float = float("nan")
    """CPU seconds the load generator itself used (it shares the cores with the server)."""

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


Post = Callable[[bytes], Awaitable[tuple[int, str]]]


@contextlib.asynccontextmanager
async def _client(url: str, path: str, concurrency: int) -> AsyncIterator[Post]:
    """``post(body) -> (status, text)`` over ``concurrency`` keep-alive connections, with httpx or aiohttp."""
    headers = {"content-type": "application/json"}
    if CLIENT == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

            async def post_aiohttp(body: bytes) -> tuple[int, str]:
                async with session.post(path, data=body, headers=headers) as r:
                    return r.status, await r.text()

            yield post_aiohttp
        return
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def post_httpx(body: bytes) -> tuple[int, str]:
            r = await client.post(path, content=body, headers=headers)
            return r.status_code, r.text

        yield post_httpx


async def _load(
    url: str, path: str, bodies: list[bytes], concurrency: int, n: int, seconds: float | None
) -> tuple[int, float, list[float], list[str]]:
    """Closed loop: ``concurrency`` tasks post bodies round robin until ``n`` requests (or ``seconds``) are done."""
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0

    async def worker(post: Post, stop_at: float) -> None:
        nonlocal sent
        while sent < n and time.perf_counter() < stop_at:
            body = bodies[sent % len(bodies)]
            sent += 1
            t0 = time.perf_counter()
            try:
                status, text = await post(body)
                ok, why = status == 200, f"{status} {text[:200]}"
            except Exception as exc:  # any transport failure counts as an error, with its type
                ok, why = False, f"{type(exc).__name__}: {exc}"
            latencies.append((time.perf_counter() - t0) * 1e3)
            if not ok:
                errors.append(why)

    async with _client(url, path, concurrency) as post:
        start = time.perf_counter()
        stop_at = start + seconds if seconds else float("inf")
        await asyncio.gather(*(worker(post, stop_at) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies), elapsed, latencies, errors


def http_load(
    label: str, url: str, path: str, bodies: list[bytes], concurrency: int, n: int, seconds: float | None = None
) -> Stats:
    asyncio.run(_load(url, path, bodies, concurrency, min(n, 4 * concurrency + 20), None))  # warm-up
    cpu = psutil.Process().cpu_times()
    done, elapsed, latencies, errors = asyncio.run(_load(url, path, bodies, concurrency, n, seconds))
    used = sum(psutil.Process().cpu_times()[:2]) - sum(cpu[:2])
    stats = Stats(label, concurrency, done, elapsed, latencies, len(errors), errors[:3], used)
    print(f"  {label}, concurrency {concurrency}: {stats.rate:,.0f} req/s, p99 {stats.pct(99):.1f} ms", flush=True)
    return stats


def in_process(label: str, call: Callable[[Any], object], args: list[Any]) -> Stats:
    for a in args[:20]:
        call(a)
    latencies = []
    start = time.perf_counter()
    for a in args:
        t0 = time.perf_counter()
        call(a)
        latencies.append((time.perf_counter() - t0) * 1e3)
    return Stats(label, 1, len(args), time.perf_counter() - start, latencies, 0)


# --- the runs ------------------------------------------------------------------------------------------------------


def check_same_scores(server: Server, path: str, bodies: list[bytes], expected: np.ndarray, read: Callable) -> None:
    """The server's probabilities for a few rows equal the in-process ones (else the comparison means nothing)."""
    got = [
        read(httpx.post(server.url + path, content=b, headers={"content-type": "application/json"}, timeout=30))
        for b in bodies
    ]
    np.testing.assert_allclose(got, expected[: len(got)], atol=1e-6, err_msg=f"{server.name} scores differ")


def single_row(setup: Setup, scorer: Any, n: int, tmp: Path) -> list[Stats]:
    from cxml.serving.schemas import ChurnRequest

    sample = setup.snapshot.sample(min(len(setup.snapshot), 500), random_state=0)
    recs = records(sample)
    expected = scorer.estimator.predict_proba(sample)[:, 1]
    ours = [json.dumps({"features": r, "top_k": 0}).encode() for r in recs]
    by_id = [json.dumps({"customer_id": str(c), "top_k": 0}).encode() for c in sample.index]
    with_reasons = [json.dumps({"customer_id": str(c), "top_k": 3}).encode() for c in sample.index]
    columns = list(sample.columns)
    theirs = [
        json.dumps({"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns]]}}).encode() for r in recs
    ]
    out: list[Stats] = []
    with bento(setup, tmp / "bento.log") as srv:
        check_same_scores(srv, "/churn", ours[:5], expected, lambda r: r.json()["probability"])
        for c in (1, 16):
            count = n if c > 1 else n // 4
            out.append(http_load("(a) cxml service, feature record", srv.url, "/churn", ours, c, count))
            out.append(http_load("(a) cxml service, customer_id", srv.url, "/churn", by_id, c, count))
            out.append(
                http_load("(a) cxml service, customer_id + 3 reasons", srv.url, "/churn", with_reasons, c, count)
            )
    with mlflow_server(setup, tmp / "mlflow.log") as srv:
        check_same_scores(srv, "/invocations", theirs[:5], expected, lambda r: r.json()["predictions"][0]["score"])
        for c in (1, 16):
            count = n if c > 1 else n // 4
            out.append(http_load("(b) mlflow models serve", srv.url, "/invocations", theirs, c, count))
    requests = [ChurnRequest(features=r, top_k=0) for r in recs]
    rows = [sample.iloc[[i]] for i in range(len(sample))]
    out.append(in_process("(c) in-process ChurnScorer.score", scorer.score, requests))
    out.append(in_process("(c) in-process estimator.predict_proba (1-row frame)", scorer.estimator.predict_proba, rows))
    out.append(in_process("(c) in-process estimator.predict_record", scorer.estimator.predict_record, recs))
    return out


def batch(setup: Setup, scorer: Any, repeats: int, tmp: Path) -> tuple[Stats, Stats, Stats]:
    """/churn_batch with 1,000 feature records as ``items`` and as the table form, against in-process."""
    sample = setup.snapshot.sample(BATCH_ROWS, random_state=1, replace=len(setup.snapshot) < BATCH_ROWS)
    recs, columns = records(sample), list(sample.columns)
    items = json.dumps({"items": [{"features": r, "top_k": 0} for r in recs]}).encode()
    table = json.dumps({"columns": columns, "rows": [[r[c] for c in columns] for r in recs]}).encode()
    with bento(setup, tmp / "bento-batch.log") as srv:
        expected = scorer.estimator.predict_proba(sample)[:, 1]
        for body in (items, table):
            check_same_scores(srv, "/churn_batch", [body], expected[:1], lambda r: r.json()["items"][0]["probability"])
        label = f"(a) /churn_batch, {BATCH_ROWS} rows"
        as_items = http_load(f"{label} as items", srv.url, "/churn_batch", [items], 1, repeats)
        as_table = http_load(f"{label} as a table", srv.url, "/churn_batch", [table], 1, repeats)
    local = in_process(f"(c) predict_proba, {BATCH_ROWS} rows", scorer.estimator.predict_proba, [sample] * repeats)
    return as_items, as_table, local


def soak(setup: Setup, seconds: float, max_requests: int, tmp: Path) -> int:
    sample = setup.snapshot.sample(min(len(setup.snapshot), 500), random_state=2)
    bodies = []
    for i, (cid, rec) in enumerate(zip(sample.index, records(sample), strict=True)):
        kind = i % 3  # a mix: features without reasons, customer_id without, customer_id with 3 reasons
        payload = {"features": rec, "top_k": 0} if kind == 0 else {"customer_id": str(cid), "top_k": 3 * (kind - 1)}
        bodies.append(json.dumps(payload).encode())
    with bento(setup, tmp / "bento-soak.log") as srv:
        http_load("warm-up", srv.url, "/churn", bodies, 16, 1000)
        start_rss = srv.rss()
        samples = [start_rss]

        async def sample_rss() -> None:
            while True:
                await asyncio.sleep(5)
                samples.append(srv.rss())

        async def run() -> tuple[int, float, list[float], list[str]]:
            sampler = asyncio.create_task(sample_rss())
            try:
                return await _load(srv.url, "/churn", bodies, 16, max_requests, seconds)
            finally:
                sampler.cancel()

        cpu = psutil.Process().cpu_times()
        done, elapsed, latencies, errors = asyncio.run(run())
        used = sum(psutil.Process().cpu_times()[:2]) - sum(cpu[:2])
        end_rss = srv.rss()
    stats = Stats("(a) cxml service, soak", 16, done, elapsed, latencies, len(errors), errors[:3], used)
    print_table([stats])
    growth = end_rss / start_rss - 1
    print(
        f"\nresident memory of the server process tree ({WORKERS} workers): start {start_rss / 2**20:.0f} MiB, "
        f"peak {max([*samples, end_rss]) / 2**20:.0f} MiB, end {end_rss / 2**20:.0f} MiB → growth {growth:+.1%} "
        f"(target < {TARGET_GROWTH:.0%})"
    )
    print("resident memory every 5 s, MiB: " + " ".join(f"{r / 2**20:.0f}" for r in [*samples, end_rss]))
    ok = stats.errors == 0 and growth < TARGET_GROWTH
    print(f"soak {'PASSED' if ok else 'FAILED'}: {done:,} requests in {elapsed:.0f} s, {stats.errors} errors")
    return 0 if ok else 1


def on_demand_manifest(setup: Setup, tmp: Path) -> Path:
    """The served manifest with the champion exported without precomputed reasons: every request explained on
    demand (the baseline of ``--reasons``), same model version, same snapshot."""
    from cxml.serving import store

    tags = store.read_manifest(setup.manifest)
    tags["churn"] = store.export_champion(setup.ws, "churn", model_name=setup.model_name)
    path = tmp / "served-on-demand.json"
    store.write_manifest(path, tags)
    return path


def reasons(setup: Setup, n: int, tmp: Path) -> int:
    """/churn by customer id with 3 reasons (and without) at concurrency 16: explained on demand against looked
    up in the reasons precomputed at export, in the same run; the two servers' answers must be the same."""
    sample = setup.snapshot.sample(min(len(setup.snapshot), 500), random_state=3)
    bodies = {k: [json.dumps({"customer_id": str(c), "top_k": k}).encode() for c in sample.index] for k in (3, 0)}
    rows: list[Stats] = []
    answers: list[list[Any]] = []
    for how, manifest in (("on demand", on_demand_manifest(setup, tmp)), ("precomputed", setup.manifest)):
        with bento(setup, tmp / f"bento-reasons-{how.replace(' ', '-')}.log", manifest) as srv:
            answers.append([httpx.post(srv.url + "/churn", content=b, timeout=30).json() for b in bodies[3][:50]])
            rows.append(http_load(f"(a) customer_id + 3 reasons, {how}", srv.url, "/churn", bodies[3], 16, n))
            rows.append(http_load(f"(a) customer_id, no reasons, {how}", srv.url, "/churn", bodies[0], 16, n))
    print_table(rows)
    same = all(_same_answer(a, b) for a, b in zip(*answers, strict=True))
    ours = rows[2]
    checks = [
        (f"precomputed answers = on-demand answers for {len(answers[0])} customers", same, "equal"),
        (f"precomputed with 3 reasons at concurrency 16 = {ours.rate:,.0f} req/s", ours.rate >= 800, "≥ 800"),
        (f"its p99 = {ours.pct(99):.1f} ms", ours.pct(99) <= TARGET_P99_MS, f"≤ {TARGET_P99_MS:.0f} ms"),
        (f"errors = {sum(s.errors for s in rows)}", sum(s.errors for s in rows) == 0, "0"),
    ]
    print(f"\nload average after the runs: {os.getloadavg()[0]:.1f}")
    for text, ok, target in checks:
        print(f"{'MET    ' if ok else 'NOT MET'} {text} (target {target})")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _same_answer(a: Any, b: Any) -> bool:
    """Equal JSON up to float round-off."""
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_answer(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_answer(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# --- report ----------------------------------------------------------------------------------------------------------


def print_table(rows: list[Stats]) -> None:
    print("\n| what | concurrency | requests | req/s | p50 ms | p99 ms | errors | load generator CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for s in rows:
        client = f"{s.client_cpu / s.seconds:.0%} of a core" if s.client_cpu == s.client_cpu else "—"
        print(
            f"| {s.label} | {s.concurrency} | {s.n:,} | {s.rate:,.0f} | {s.pct(50):.2f} | {s.pct(99):.2f} "
            f"| {s.errors} | {client} |"
        )
    for s in rows:
        for e in s.error_examples:
            print(f"  error in {s.label} (c={s.concurrency}): {e}")


def find(rows: list[Stats], prefix: str, concurrency: int) -> Stats:
    return next(s for s in rows if s.label.startswith(prefix) and s.concurrency == concurrency)


def report(rows: list[Stats], as_items: Stats, served: Stats, local: Stats) -> int:
    print_table(rows)
    ours, theirs = find(rows, "(a) cxml service, feature record", 16), find(rows, "(b)", 16)
    ratio = ours.rate / theirs.rate
    errors = sum(s.errors for s in rows if s.label.startswith(("(a)", "(b)"))) + as_items.errors
    print()
    for form, s in (("as items", as_items), ("as a table", served)):
        print(
            f"batch: /churn_batch {form} {BATCH_ROWS * s.rate:,.0f} rows/s (p50 {s.pct(50):.1f} ms per call) = "
            f"{s.rate / local.rate:.0%} of in-process predict_proba {BATCH_ROWS * local.rate:,.0f} rows/s "
            f"(p50 {local.pct(50):.1f} ms)"
        )
    share = served.rate / local.rate
    checks = [
        (f"(a)/(b) throughput at concurrency 16 = {ratio:.2f}×", ratio >= TARGET_RATIO, f"≥ {TARGET_RATIO:.0f}×"),
        (
            f"(a) p99 at concurrency 16 = {ours.pct(99):.1f} ms",
            ours.pct(99) <= TARGET_P99_MS,
            f"≤ {TARGET_P99_MS:.0f} ms",
        ),
        (f"errors over every HTTP run = {errors + served.errors}", errors + served.errors == 0, "0"),
        (
            f"batch rows/s (table form) = {share:.0%} of in-process",
            share >= TARGET_BATCH_SHARE,
            f"≥ {TARGET_BATCH_SHARE:.0%}",
        ),
    ]
    print()
    for text, ok, target in checks:
        print(f"{'MET    ' if ok else 'NOT MET'} {text} (target {target})")
    return 0 if all(ok for _, ok, _ in checks) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000, help="simulated customers to train and serve")
    parser.add_argument("--requests", type=int, default=2000, help="requests per run at concurrency 16 (¼ at 1)")
    parser.add_argument("--batch-repeats", type=int, default=20, help="1,000-row batches per side")
    parser.add_argument(
        "--soak",
        type=float,
        nargs="?",
        const=60.0,
        default=None,
        metavar="SECONDS",
        help="run the soak instead (default 60 s)",
    )
    parser.add_argument(
        "--reasons",
        action="store_true",
        help="only /churn by customer id with 3 reasons: precomputed at export against explained on demand",
    )
    parser.add_argument("--soak-max-requests", type=int, default=100_000, help="the soak's request bound")
    parser.add_argument("--workers", type=int, default=CORES, help="worker processes of each server (default: cores)")
    parser.add_argument(
        "--client",
        choices=["httpx", "aiohttp"],
        default="aiohttp",
        help="load generator's client (httpx needs 2-3× the CPU per request: on 2 shared cores it starves the "
        "servers and its own event loop, which shows as latency)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="work here instead of a temporary folder")
    args = parser.parse_args()
    global WORKERS, CLIENT
    WORKERS, CLIENT = args.workers, args.client
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    os.environ["OMP_NUM_THREADS"] = "1"  # the in-process side runs single-threaded like each server worker
    os.chdir(ROOT)  # pipelines/*.yaml and the policy are read relative to the repository
    with contextlib.ExitStack() as stack:
        tmp = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxml-bench-serving-")))
        tmp.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        setup = build(tmp, args.customers)
        print(
            f"setup: {args.customers:,} simulated customers, {setup.snapshot.shape[1]} features, "
            f"{setup.model_name} v{setup.version} ready in {time.perf_counter() - t0:.0f} s"
        )
        print(
            f"machine: {CORES} cores shared by the servers ({WORKERS} workers each) and the load generator "
            f"(one asyncio process, {CLIENT}), all on 127.0.0.1; load average {os.getloadavg()[0]:.1f}"
        )
        if args.soak is not None:
            return soak(setup, args.soak, args.soak_max_requests, tmp)
        if args.reasons:
            return reasons(setup, args.requests, tmp)
        scorer = load_scorer(setup)
        rows = single_row(setup, scorer, args.requests, tmp)
        as_items, as_table, local = batch(setup, scorer, args.batch_repeats, tmp)
        print(f"load average after the runs: {os.getloadavg()[0]:.1f}")
        return report([*rows, as_items, as_table, local], as_items, as_table, local)


if __name__ == "__main__":
    sys.exit(main())
