"""Benchmark of the HTTP predictor (`predict_rows`) served as in production: functions-framework's
app on gunicorn, on 127.0.0.1, loaded by autocannon (a real load generator).

    (grid)  gunicorn settings on this machine's cores, as functions-framework makes them from
            WORKERS and THREADS: workers 1-4, threads 1-8 (one thread is gunicorn's sync worker,
            more are its gthread worker); XGBoost 1-row requests at concurrency 8 and the empty
            handler under the same setting. The best XGBoost setting serves the main table.
    (main)  p50 / p99 latency and requests/s of 1-row and 100-row requests at concurrency 1 and 8
            for the demo's XGBoost model, a scikit-learn pipeline (logistic regression) and an
            empty handler (`bench/empty_function.py`: the framework's ceiling); one line with
            every request logged to BigQuery (the emulator's), as the function defaults to.
    (pairs) XGBoost 1-row at c=8 and the empty handler measured in turn, both servers up, so
            that the target's ratio compares runs made in the same spell of the machine's load;
            the empty handler runs again (up to 4 times) until its connections split between
            workers as XGBoost's did, and only pairs split alike are compared.
    (proc)  the same rows scored in this process: `Predictor.scores` alone, with the instance
            checks, the whole `PredictionService.handle` (JSON in and out, no HTTP), and the batch
            path (`ScoringModel.predict_scores`: a DataFrame, scikit-learn's per-call checks);
            parity of the HTTP answers with the batch path.
    (cold)  process start -> first successful prediction of a fresh gunicorn, and where an
            instance's start goes: `python -X importtime` of the function module and of its
            first request, summed by package; whether pandas and scikit-learn are imported on the
            XGBoost path, and by which import chain.

Targets: XGBoost 1-row requests/s at concurrency 8 >= 0.6 x the empty handler's; XGBoost 100-row
requests at concurrency 1 >= 540 requests/s; scikit-learn pipeline 1-row p50 <= 2 ms; cold start
<= 1.0 s for an XGBoost model.

Starts a local stack of its own on free ports in a temporary folder (always stopped), trains the
two models into its registry as the demo does (20k demo rows, cloudscore.toml's settings, one
family each, a search budget its trials finish within), and runs its own gunicorn processes with
the stack's function environment (the stack's own function processes are not measured).
Prediction logging is off (CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE=0) except on the line that says so.
autocannon is installed with npm under .cloudscore/bench-tools/ on first use (needs Node.js and
npm). The load generator runs on the same cores as the server: the CPU used by each, and by the
rest of the machine, is printed beside every line.
    .venv/bin/python bench/online.py [--seconds 4] [--warmup 0.5] [--grid-seconds 2] [--repeats 3]
        [--grid-workers 1,2,3,4 --grid-threads 1,2,4,8 | --no-grid --workers 2 --threads 4]
        [--pairs 5] [--cold-runs 5]
        [--train-budget 120] [--no-log-line]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from local_emulator import processes, stack
from local_emulator.components import function_env
from local_emulator.settings import DEFAULT_PORTS, HOST, StackSettings

REPO: Final = Path(__file__).resolve().parents[1]
TOOLS_DIR: Final = REPO / ".cloudscore" / "bench-tools"
AUTOCANNON_VERSION: Final = "9.0.0"
FUNCTION_SOURCE: Final = "functions/main.py"
EMPTY_SOURCE: Final = "bench/empty_function.py"
XGB_MODEL: Final = "loan-default"
LR_MODEL: Final = "loan-default-lr"
TRAIN_ROWS: Final = 20_000
TRAIN_SEED: Final = 1  # the demo's training file
REQUEST_SEED: Final = 2
ROW_COUNTS: Final = (1, 100)
CONCURRENCY: Final = (1, 8)
GRID_WORKERS: Final = (1, 2, 3, 4)
GRID_THREADS: Final = (1, 2, 4, 8)
RATIO_TARGET: Final = 0.6
BATCH_RPS_TARGET: Final = 540.0  # 100-row requests at c=1
LR_P50_TARGET_MS: Final = 2.0
COLD_TARGET_S: Final = 1.0
# Above this many cores used by the rest of the machine during a measure, it is marked noisy.
NOISY_CORES: Final = 0.25
# Runs of the empty handler per pair at most, until one splits its connections as XGBoost's run.
PAIR_TRIES: Final = 4
STARTUP_TIMEOUT_S: Final = 60.0

# Runs autocannon through its API rather than its command line: the command line reports
# latencies in whole milliseconds, too coarse for a 2 ms target. It warms up, prints "measuring"
# when the measured run starts (so the server's CPU is read over the same span), then one JSON
# line. The latency of each 2xx answer is kept as autocannon measures it (float milliseconds).
LOAD_SCRIPT: Final = r"""'use strict'
const autocannon = require('autocannon')
const fs = require('fs')
const spec = JSON.parse(process.argv[2])
const options = {
  url: spec.url,
  connections: spec.connections,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: fs.readFileSync(spec.body),
  timeout: 30
}
function run (duration, latencies) {
  return new Promise((resolve, reject) => {
    const instance = autocannon({ ...options, duration }, (err, result) => {
      if (err) reject(err); else resolve(result)
    })
    if (latencies) {
      instance.on('response', (client, status, bytes, ms) => {
        if (status >= 200 && status < 300) latencies.push(ms)
      })
    }
  })
}
async function main () {
  if (spec.warmup_s > 0) await run(spec.warmup_s, null)
  process.stdout.write('measuring\n')
  const latencies = []
  const cpu0 = process.cpuUsage()
  const result = await run(spec.duration_s, latencies)
  const cpu = process.cpuUsage(cpu0)
  latencies.sort((a, b) => a - b)
  const at = (p) => latencies.length
    ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null
  process.stdout.write(JSON.stringify({
    ok: latencies.length,
    duration_s: result.duration,
    p50: at(0.5),
    p99: at(0.99),
    max: latencies.length ? latencies[latencies.length - 1] : null,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    cpu_s: (cpu.user + cpu.system) / 1e6
  }) + '\n')
}
main().catch((err) => { console.error(err); process.exit(1) })
"""


# --- machine facts --------------------------------------------------------------------------


def machine_line() -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# --- processes and CPU --------------------------------------------------------------------------

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: fields are counted after it.
    return text.rpartition(")")[2].split()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time spent on every core so far, by anything (not idle, not waiting on I/O)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / _CLOCK_TICKS


def connections_per_worker(server_pid: int, port: int) -> list[int]:
    """Established connections to `port` held by each child of `server_pid`, most first."""
    suffix = f":{port:04X}"
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(suffix) and fields[3] == "01":  # local address; ESTABLISHED
            established.add(f"socket:[{fields[9]}]")  # by inode, as /proc/<pid>/fd names it
    counts = []
    for pid in children_of(server_pid):
        held = 0
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    held += str(fd.readlink()) in established
        counts.append(held)
    return sorted(counts, reverse=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_base() -> int:
    return processes.free_port_base(len(DEFAULT_PORTS), HOST)


# --- the served function ----------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """How gunicorn serves: worker processes and threads per worker (WORKERS and THREADS)."""

    workers: int
    threads: int

    @property
    def worker_class(self) -> str:
        """What gunicorn runs for these: its sync worker for one thread (functions-framework
        sets no worker class, and gunicorn switches to gthread only for more threads)."""
        return "sync" if self.threads == 1 else "gthread"

    def __str__(self) -> str:
        return f"{self.worker_class} {self.workers}w x {self.threads}t"


@dataclass(frozen=True)
class Target:
    """A function to serve: functions-framework's target and source, and its environment."""

    label: str
    name: str
    source: str
    env: dict[str, str]


def gunicorn_command(target: Target, setting: Setting, port: int) -> list[str]:
    """The command functions-framework's own gunicorn application amounts to
    (functions_framework/_http/gunicorn.py: bind, workers, threads, timeout 0, no request-line
    limit, error logging), with the worker class and counts given here."""
    factory = (
        f"functions_framework:create_app(target={target.name!r}, source={target.source!r}, "
        "signature_type='http')"
    )
    return [
        sys.executable,
        *("-m", "gunicorn", "--bind", f"{HOST}:{port}"),
        *("--worker-class", setting.worker_class),
        *("--workers", str(setting.workers), "--threads", str(setting.threads)),
        *("--timeout", "0", "--limit-request-line", "0", "--log-level", "error"),
        factory,
    ]


class Server:
    """One gunicorn process (its master; the workers are its children), stopped by its PID."""

    def __init__(self, target: Target, setting: Setting, log_dir: Path) -> None:
        self.target = target
        self.setting = setting
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        log = log_dir / f"gunicorn-{target.label}-{self.port}.log"
        self._log = log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            gunicorn_command(target, setting, self.port),
            cwd=REPO,
            env=target.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log

    def pids(self) -> list[int]:
        return [self.process.pid, *children_of(self.process.pid)]

    def stop(self) -> None:
        workers = children_of(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn stops its workers gracefully
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in workers:  # a worker outlives its master only if the master was killed
            if _stat_fields(pid) is not None:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()

    def failure(self, why: str) -> SystemExit:
        tail = self.log_path.read_text(errors="replace")[-3000:]
        return SystemExit(f"{self.target.label} on {self.setting}: {why}\n{tail}")


@contextmanager
def serving(target: Target, setting: Setting, log_dir: Path, body: bytes) -> Iterator[Server]:
    server = Server(target, setting, log_dir)
    try:
        wait_until_answers(server, body)
        warm_workers(server, body)
        yield server
    finally:
        server.stop()


def post(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_answers(server: Server, body: bytes) -> float:
    """Seconds from the process's start to its first 200 to `body`."""
    deadline = server.started + STARTUP_TIMEOUT_S
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise server.failure(f"gunicorn exited with {server.process.returncode}")
        try:
            status, answer = post(server.url, body)
        except (ConnectionError, urllib.error.URLError, TimeoutError):
            time.sleep(0.005)
            continue
        if status == 200:
            return time.perf_counter() - server.started
        raise server.failure(f"answered {status}: {answer[:500]!r}")
    raise server.failure(f"no answer within {STARTUP_TIMEOUT_S:.0f} s")


def warm_workers(server: Server, body: bytes) -> None:
    """Each worker loads the model on its first request: many requests on new connections, a few
    at a time, reach every worker before anything is measured."""
    count = 24 * server.setting.workers
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post(server.url, body)[0], range(count)))
    if any(status != 200 for status in statuses):
        raise server.failure(f"warm-up answers: {sorted(set(statuses))}")


# --- the load generator -------------------------------------------------------------------------


def autocannon_dir() -> Path:
    """autocannon installed under the bench's own folder (never globally), once."""
    if (TOOLS_DIR / "node_modules" / "autocannon" / "package.json").is_file():
        return TOOLS_DIR
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("the online bench needs Node.js and npm (apt-get install nodejs npm)")
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    print(f"  (installing autocannon {AUTOCANNON_VERSION} under {TOOLS_DIR})", file=sys.stderr)
    subprocess.run(
        ["npm", "install", "--prefix", str(TOOLS_DIR), "--no-audit", "--no-fund", "--silent",
         f"autocannon@{AUTOCANNON_VERSION}"],
        check=True,
    )  # fmt: skip
    return TOOLS_DIR


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    ok: int
    server_cores: float  # CPU seconds per second of the measured span
    loadgen_cores: float
    other_cores: float  # the rest of the machine: other people's work, the stack, this script
    spread: tuple[int, ...]  # the load generator's connections held by each worker, most first


@dataclass(frozen=True)
class Measured:
    """Runs of the same load, each on new connections; the run of median requests/s stands for
    them. Several runs, because gunicorn's workers share one listening socket: whichever worker
    accepts a keep-alive connection serves it to the end, and with few connections the split
    between workers (say 8/0 or 4/4) decides the figures."""

    runs: tuple[Load, ...]

    @property
    def median(self) -> Load:
        return sorted(self.runs, key=lambda load: load.requests_per_s)[len(self.runs) // 2]

    @property
    def requests_range(self) -> str:
        rates = [load.requests_per_s for load in self.runs]
        return f"{min(rates):.0f}-{max(rates):.0f}" if len(rates) > 1 else ""

    @property
    def spreads(self) -> str:
        """Each run's split of the connections and its requests/s: 5/3=2580 8/0=1255 ..."""
        return " ".join(
            "/".join(map(str, load.spread)) + f"={load.requests_per_s:.0f}"
            for load in self.runs
            if load.spread
        )

    @property
    def cpu_us_per_request(self) -> float:
        """The server's CPU time per answered request over every run: what the split between
        workers does not change."""
        cpu = sum(load.server_cores * load.ok / load.requests_per_s for load in self.runs)
        return cpu / sum(load.ok for load in self.runs) * 1e6

    @property
    def other_cores(self) -> float:
        return max(load.other_cores for load in self.runs)


@dataclass(frozen=True)
class Pair:
    """XGBoost's run and the empty handler's that followed it, both servers up."""

    xgb: Load
    empty: Load

    @property
    def alike(self) -> bool:
        """Whether the two runs split the connections between workers the same way."""
        return self.xgb.spread == self.empty.spread

    @property
    def ratio(self) -> float:
        return self.xgb.requests_per_s / self.empty.requests_per_s

    @property
    def cpu_ratio(self) -> float:
        """The empty handler's server CPU per request over XGBoost's."""
        return cpu_us(self.empty) / cpu_us(self.xgb)


def cpu_us(load: Load) -> float:
    return load.server_cores / load.requests_per_s * 1e6


def run_load(
    server: Server, body_file: Path, connections: int, seconds: float, warmup: float
) -> Load:
    """One autocannon run against `server`: warm-up, then `seconds` measured."""
    script = TOOLS_DIR / "latency.js"
    if not script.is_file() or script.read_text() != LOAD_SCRIPT:
        script.write_text(LOAD_SCRIPT)
    spec = {
        "url": server.url,
        "connections": connections,
        "body": str(body_file),
        "duration_s": seconds,
        "warmup_s": warmup,
    }
    node = subprocess.Popen(
        ["node", str(script), json.dumps(spec)],
        cwd=TOOLS_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert node.stdout is not None
    spread: list[int] = []

    def sample_spread() -> None:
        spread.extend(connections_per_worker(server.process.pid, server.port))

    # Halfway through the measure, when every connection is open and held by a worker.
    sampler = threading.Timer(seconds / 2, sample_spread)
    try:
        lines = []
        server_cpu0 = busy0 = started = 0.0
        for line in node.stdout:
            if line.strip() == "measuring":
                started, server_cpu0 = time.perf_counter(), cpu_seconds(server.pids())
                busy0 = machine_busy_seconds()
                sampler.start()
            else:
                lines.append(line)
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pids()) - server_cpu0
        busy = machine_busy_seconds() - busy0
    finally:
        sampler.cancel()
        if sampler.is_alive():
            sampler.join()
        if node.wait() != 0:
            raise SystemExit(f"autocannon failed against {server.url}")
    result = json.loads(lines[-1])
    if result["errors"] or result["timeouts"] or result["non2xx"] or not result["ok"]:
        raise server.failure(f"errors under load: {result}")
    return Load(
        requests_per_s=result["ok"] / result["duration_s"],
        p50_ms=result["p50"],
        p99_ms=result["p99"],
        ok=result["ok"],
        server_cores=server_cpu / elapsed,
        loadgen_cores=result["cpu_s"] / elapsed,
        other_cores=max(0.0, busy - server_cpu - result["cpu_s"]) / elapsed,
        # A sync worker holds a connection for one request only: there is no split to show.
        spread=tuple(spread) if server.setting.worker_class == "gthread" else (),
    )


# --- the models and the requests ---------------------------------------------------------------


def train_models(settings: StackSettings, budget_s: float) -> dict[str, str]:
    """The demo's models in the stack's registry, promoted: model name -> version."""
    from cloudscore.demo_data import iter_demo_frames
    from shared import clients
    from shared.project_config import load_project_config
    from shared.registration import train_and_register
    from shared.registry import ModelRegistry
    from shared.sources import SourceInfo, fingerprint

    frame = next(iter_demo_frames(TRAIN_ROWS, seed=TRAIN_SEED, chunk_rows=TRAIN_ROWS))
    source = SourceInfo("memory://bench-online", "file", len(frame), fingerprint(frame))
    storage = clients.storage_client(settings.project, settings.endpoints())
    demo = load_project_config(REPO / "cloudscore.toml")
    versions = {}
    for name, family in ((XGB_MODEL, "xgboost"), (LR_MODEL, "logistic_regression")):
        started = time.perf_counter()
        config = dataclasses.replace(
            demo, model_name=name, candidates=(family,), time_budget_s=budget_s
        )
        registry = ModelRegistry(storage, settings.models_bucket, name)
        registration = train_and_register(frame, source, config, registry, None, promote=True)
        versions[name] = registration.version
        print(
            f"  (trained {name} ({family}) in {time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return versions


def request_instances(count: int) -> list[dict[str, Any]]:
    from cloudscore.demo_data import LABEL_COLUMN, iter_demo_frames

    frame = next(iter_demo_frames(count, seed=REQUEST_SEED, chunk_rows=count))
    # As a client sends them: JSON values, dates in ISO 8601, missing values as null.
    records: list[dict[str, Any]] = json.loads(
        frame.drop(columns=[LABEL_COLUMN]).to_json(orient="records", date_format="iso")
    )
    return records


def request_body(instances: list[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": instances}).encode()


# --- in process --------------------------------------------------------------------------------


def per_call_us(call: Callable[[], object], budget_s: float = 0.4) -> float:
    """Median wall time of one call, over as many calls as fit in `budget_s` (20 to 2000)."""
    call()
    times: list[float] = []
    spent = 0.0
    while len(times) < 2000 and (spent < budget_s or len(times) < 20):
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        times.append(elapsed)
        spent += elapsed
    return statistics.median(times) * 1e6


@dataclass(frozen=True)
class InProcess:
    scores_us: float
    checked_us: float
    handle_us: float
    batch_path_us: float
    library_us: float | None  # XGBoost's own inplace_predict of the same rows


def in_process(
    settings: StackSettings, model_name: str, version: str, instances: list[dict[str, Any]]
) -> tuple[dict[int, InProcess], Any]:
    """Per row count: the predictor, with checks, the whole use case, and the batch path; and
    the scoring model, for the parity check."""
    import numpy as np
    import pandas as pd

    from shared import clients
    from shared.config import PredictConfig
    from shared.contract import validate
    from shared.model_cache import ModelCache
    from shared.registry import ModelRegistry
    from shared.serving.request import HttpRequest
    from shared.serving.service import PredictionService, Served

    storage = clients.storage_client(settings.project, settings.endpoints())
    cache = ModelCache(ModelRegistry(storage, settings.models_bucket, model_name))
    loaded = cache.get_version(version)
    served = Served.of(loaded)
    service = PredictionService(cache, PredictConfig(), None)
    contract = loaded.contract
    results: dict[int, InProcess] = {}
    for count in ROW_COUNTS:
        chosen = instances[:count]
        rows, problems = served.checker.check(chosen)
        assert not problems, problems
        valid = validate(pd.DataFrame.from_records(chosen), contract).valid
        assert len(valid) == count
        request = HttpRequest("POST", "/", "application/json", request_body(chosen), {})
        assert service.handle(request, "bench").status == 200

        def checked(items: list[dict[str, Any]] = chosen) -> object:
            return served.predictor.scores(served.checker.check(items)[0])

        library_us = None
        if loaded.model.family == "xgboost":
            matrix = np.asarray(rows, dtype=np.float32)
            library_us = per_call_us(partial(loaded.model.estimator.inplace_predict, matrix))
        results[count] = InProcess(
            library_us=library_us,
            scores_us=per_call_us(partial(served.predictor.scores, rows)),
            checked_us=per_call_us(checked),
            handle_us=per_call_us(partial(service.handle, request, "bench")),
            batch_path_us=per_call_us(partial(loaded.model.predict_scores, valid)),
        )
    service.close()
    return results, (loaded.model, contract, loaded.scorer)


def describe(model: Any, scorer: bytes | None) -> str:
    if model.family == "xgboost":
        by = "onnxruntime (its ONNX graph)" if scorer is not None else "XGBoost (no ONNX graph)"
        return f"{model.estimator.num_boosted_rounds()} trees, scored by {by}"
    classifier = model.estimator.named_steps["classifier"]
    return f"{type(classifier).__name__} on {classifier.coef_.shape[1]} columns"


def parity(model_and_contract: Any, instances: list[dict[str, Any]], answer: bytes) -> float:
    """Largest difference between the HTTP answer's scores and the batch path's."""
    import numpy as np
    import pandas as pd

    from shared.contract import validate

    model, contract, _ = model_and_contract
    valid = validate(pd.DataFrame.from_records(instances), contract).valid
    expected = model.predict_scores(valid)
    served = np.array([p["score"] for p in json.loads(answer)["predictions"]])
    return float(np.max(np.abs(served - expected)))


# --- cold start --------------------------------------------------------------------------------

# Run in a fresh interpreter under `-X importtime`: the function's module as functions-framework
# loads it, then its first request (which loads the model), with a marker between the two.
COLD_PROBE: Final = """
import json, sys, time
started = time.perf_counter()
import functions_framework
app = functions_framework.create_app({target!r}, {source!r}, "http")
loaded = time.perf_counter()
sys.stderr.write("--- first request ---\\n"); sys.stderr.flush()
answer = app.test_client().post("/", data=sys.stdin.buffer.read(), content_type="application/json")
done = time.perf_counter()
assert answer.status_code == 200, answer.get_data()
# An import refused on purpose (xgboost's of scikit-learn) shows under -X importtime too: what
# was really imported is what sys.modules holds.
modules = sorted(name for name in {watched!r} if sys.modules.get(name) is not None)
print(json.dumps({{"import_s": loaded - started, "first_request_s": done - loaded,
                  "modules": modules}}))
"""
# The packages the XGBoost serving path should not import.
WATCHED: Final = ("pandas", "sklearn", "scipy", "pyarrow", "google.cloud.bigquery")


@dataclass(frozen=True)
class ImportLine:
    self_us: int
    module: str
    depth: int
    phase: str  # "import" or "first request"


def run_probe(target: Target, body: bytes, importtime: bool) -> tuple[dict[str, Any], str]:
    code = COLD_PROBE.format(target=target.name, source=target.source, watched=WATCHED)
    flags = ["-X", "importtime"] if importtime else []
    done = subprocess.run(
        [sys.executable, *flags, "-c", code],
        check=False,
        cwd=REPO,
        env=target.env,
        input=body,
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"the cold-start probe failed:\n{done.stderr.decode()[-3000:]}")
    timings: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return timings, done.stderr.decode()


_IMPORT_LINE: Final = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


def parse_importtime(text: str) -> list[ImportLine]:
    lines = []
    phase = "import"
    for line in text.splitlines():
        if line.startswith("--- first request ---"):
            phase = "first request"
            continue
        match = _IMPORT_LINE.match(line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            lines.append(ImportLine(int(match.group(1)), match.group(4), depth, phase))
    return lines


def package_group(module: str) -> str:
    """The package an import is counted under: its top-level name, and for google.* the client
    library (google.cloud.storage, google.api_core, google.protobuf...)."""
    parts = module.split(".")
    if parts[0] != "google" or len(parts) == 1:
        return parts[0]
    if parts[1] == "cloud" and len(parts) > 2:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def import_chain(lines: list[ImportLine], package: str) -> str | None:
    """`package <- its importer <- ...` up to the top level, for its first import."""
    for index, line in enumerate(lines):
        if line.module == package:
            chain, depth = [package], line.depth
            for parent in lines[index + 1 :]:
                if parent.depth < depth:
                    chain.append(parent.module)
                    depth = parent.depth
                    if depth == 0:
                        break
            return " <- ".join(chain) + f" (during the {line.phase})"
    return None


def cold_start(
    target: Target, setting: Setting, body: bytes, runs: int, log_dir: Path
) -> list[float]:
    """Seconds from spawning gunicorn to the first 200 to a 1-row prediction, per run."""
    times = []
    for _ in range(runs):
        server = Server(target, setting, log_dir)
        try:
            times.append(wait_until_answers(server, body))
        finally:
            server.stop()
    return times


# --- printing ----------------------------------------------------------------------------------


def load_row(label: str, rows: int, connections: int, measured: Measured, setting: Setting) -> str:
    load = measured.median
    return (
        f"  {label:<30} {rows:>4} {connections:>3} | {load.requests_per_s:>6.0f} "
        f"{measured.requests_range:>9} {latency(load.p50_ms, setting)} "
        f"{latency(load.p99_ms, setting)} | "
        f"{load.server_cores:>6.2f} {load.loadgen_cores:>7.2f} {measured.other_cores:>6.2f} | "
        f"{measured.spreads}" + (" (noisy)" if measured.other_cores > NOISY_CORES else "")
    )


LOAD_HEADER: Final = (
    f"  {'':<30} {'rows':>4} {'c':>3} | {'req/s':>6} {'range':>9} {'p50 ms':>7} {'p99 ms':>7} | "
    f"{'server':>6} {'loadgen':>7} {'others':>6} | each run: connections per worker=req/s"
)


@dataclass
class Bench:
    """What every section uses: the stack, the served targets, the request bodies."""

    settings: StackSettings
    args: argparse.Namespace
    versions: dict[str, str]
    instances: list[dict[str, Any]]
    bodies: dict[int, bytes]
    body_files: dict[int, Path]
    logs: Path
    xgb: Target
    lr: Target
    empty: Target
    logged: Target

    @classmethod
    def prepare(cls, settings: StackSettings, workdir: Path, args: argparse.Namespace) -> Bench:
        versions = train_models(settings, args.train_budget)
        instances = request_instances(max(ROW_COUNTS))
        bodies = {count: request_body(instances[:count]) for count in ROW_COUNTS}
        body_files = {count: workdir / f"body-{count}.json" for count in ROW_COUNTS}
        for count, path in body_files.items():
            path.write_bytes(bodies[count])
        logs = workdir / "logs"
        logs.mkdir()
        env = function_env(settings, "predict_rows")
        env["CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE"] = "0"
        return cls(
            settings, args, versions, instances, bodies, body_files, logs,
            xgb=Target("XGBoost", "predict_rows", FUNCTION_SOURCE, env),
            lr=Target(
                "sklearn pipeline (LR)", "predict_rows", FUNCTION_SOURCE,
                {**env, "CLOUDSCORE_MODEL_NAME": LR_MODEL},
            ),
            empty=Target("empty handler", "empty", EMPTY_SOURCE, env),
            logged=Target(
                "XGBoost, every request logged", "predict_rows", FUNCTION_SOURCE,
                {**env, "CLOUDSCORE_PREDICT_LOG_SAMPLE_RATE": "1"},
            ),
        )  # fmt: skip

    def load(self, server: Server, rows: int, connections: int, seconds: float) -> Measured:
        """One run; several when the connections may split unevenly between workers."""
        setting = server.setting
        uneven = connections > 1 and setting.worker_class == "gthread" and setting.workers > 1
        body, warmup = self.body_files[rows], self.args.warmup
        runs = self.args.repeats if uneven else 1
        return Measured(
            tuple(run_load(server, body, connections, seconds, warmup) for _ in range(runs))
        )


def header(bench: Bench) -> list[str]:
    import xgboost

    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    versions, budget = bench.versions, bench.args.train_budget
    return [
        machine_line(),
        f"load generator: autocannon {AUTOCANNON_VERSION} on Node.js {node.stdout.strip()}, one "
        "process on the same cores as the server (its CPU is the loadgen column)",
        f"server: gunicorn {package_version('gunicorn')}, functions-framework "
        f"{package_version('functions-framework')}, Flask {package_version('flask')}, "
        f"xgboost {xgboost.__version__}, scikit-learn {package_version('scikit-learn')}"
        f"; {HOST}, keep-alive connections; prediction log sampling 0 unless said",
        f"models: {XGB_MODEL} {versions[XGB_MODEL]} (xgboost), {LR_MODEL} {versions[LR_MODEL]} "
        f"(logistic regression pipeline); {TRAIN_ROWS:,} demo rows, cloudscore.toml, "
        f"search budget {budget:g} s",
        "",
    ]


def grid_section(bench: Bench, out: list[str]) -> Setting:
    """Every setting of the grid; the one serving most XGBoost 1-row requests at c=8."""
    seconds = bench.args.grid_seconds
    workers, threads = bench.args.grid_workers, bench.args.grid_threads
    tried = [Setting(w, t) for w in workers for t in threads]
    out += [
        f"gunicorn grid: 1-row requests at concurrency 8, {seconds:g} s per run after "
        f"{bench.args.warmup:g} s of warm-up, the median of {bench.args.repeats} runs where "
        "the connections may split unevenly between workers (range: of all runs);",
        "  cpu: the server's cores busy; others: the rest of the machine's; split: the "
        "connections held by each worker=req/s, per run",
        f"  {'setting':<16} | {'XGBoost req/s':>13} {'range':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'cpu':>4} | {'empty req/s':>11} {'range':>9} {'cpu':>4} | {'ratio':>5} | "
        f"{'others':>6} | split (XGBoost; empty)",
    ]
    grid: dict[Setting, Measured] = {}
    for setting in tried:
        with serving(bench.xgb, setting, bench.logs, bench.bodies[1]) as server:
            measured = grid[setting] = bench.load(server, 1, 8, seconds)
        with serving(bench.empty, setting, bench.logs, bench.bodies[1]) as server:
            ceiling = bench.load(server, 1, 8, seconds)
        load, empty = measured.median, ceiling.median
        others = max(measured.other_cores, ceiling.other_cores)
        out.append(
            f"  {setting!s:<16} | {load.requests_per_s:>13.0f} {measured.requests_range:>9} "
            f"{latency(load.p50_ms, setting)} {latency(load.p99_ms, setting)} "
            f"{load.server_cores:>4.2f} | {empty.requests_per_s:>11.0f} "
            f"{ceiling.requests_range:>9} {empty.server_cores:>4.2f} | "
            f"{load.requests_per_s / empty.requests_per_s:>5.2f} | {others:>6.2f} | "
            f"{measured.spreads}; {ceiling.spreads}" + (" (noisy)" if others > NOISY_CORES else "")
        )
        print(out[-1], file=sys.stderr, flush=True)
    chosen = max(grid, key=lambda setting: grid[setting].median.requests_per_s)
    out += [
        "  (sync: latencies n/a. A sync worker closes the connection after each answer, and "
        "autocannon then times",
        "  each answer from a request it had queued on the closed connection, so its latencies "
        "grow without bound; the requests/s stand.)",
        f"  best for XGBoost 1-row at c=8: {chosen}",
        "",
    ]
    return chosen


def latency(ms: float, setting: Setting) -> str:
    return f"{'n/a':>7}" if setting.worker_class == "sync" else f"{ms:>7.2f}"


def main_section(
    bench: Bench, chosen: Setting, out: list[str]
) -> tuple[dict[tuple[str, int, int], Measured], dict[str, bytes]]:
    """The table; and each model's answer to the 100-row request, for the parity check."""
    seconds = bench.args.seconds
    out.append(
        f"served by gunicorn {chosen}; {seconds:g} s measured per run after "
        f"{bench.args.warmup:g} s of warm-up; at c=8 with several workers the run of median "
        f"req/s of {bench.args.repeats} (range: of all runs); CPU columns: cores busy"
    )
    out.append(LOAD_HEADER)
    table: dict[tuple[str, int, int], Measured] = {}
    answers: dict[str, bytes] = {}
    for target in (bench.xgb, bench.lr, bench.empty):
        with serving(target, chosen, bench.logs, bench.bodies[1]) as server:
            answers[target.label] = post(server.url, bench.bodies[100])[1]
            for rows in ROW_COUNTS:
                for connections in CONCURRENCY:
                    load = table[target.label, rows, connections] = bench.load(
                        server, rows, connections, seconds
                    )
                    out.append(load_row(target.label, rows, connections, load, chosen))
                    print(out[-1], file=sys.stderr, flush=True)
    if not bench.args.no_log_line:
        with serving(bench.logged, chosen, bench.logs, bench.bodies[1]) as server:
            measured = bench.load(server, 1, 8, seconds)
            out.append(load_row(bench.logged.label, 1, 8, measured, chosen))
        # Counted once the server has stopped: its workers load what the log holds as they exit.
        answered = sum(load.ok for load in measured.runs)
        out.append(
            "    (logged: sampled at 1.0 to the BigQuery emulator, which runs on the same cores; "
            f"{logged_rows(bench.settings):,} rows reached online_predictions, for "
            f"{answered:,} requests measured plus the warm-ups)"
        )
    out.append("")
    return table, answers


def logged_rows(settings: StackSettings) -> int:
    from shared import clients

    client = clients.bigquery_client(settings.project, settings.endpoints())
    table = f"`{settings.project}.{settings.dataset}.online_predictions`"
    rows = list(client.query(f"SELECT COUNT(*) AS n FROM {table}").result())
    return int(rows[0]["n"])


def in_process_section(bench: Bench, answers: dict[str, bytes], out: list[str]) -> None:
    out += [
        "in process, the same rows (this interpreter, one thread; median µs per call):",
        "  scores: Predictor.scores of checked rows; checked: + InstanceChecker.check of the "
        "JSON instances;",
        "  handle: PredictionService.handle, body bytes in -> answer (the whole handler but "
        "Flask); batch: ScoringModel.predict_scores of a DataFrame (the batch path, "
        "scikit-learn's per-call checks);",
        "  xgboost: Booster.inplace_predict of the checked rows (what the predictor's ONNX "
        "graph stands in for)",
        f"  {'':<30} {'rows':>4} | {'scores':>7} {'checked':>7} {'handle':>7} {'batch':>7} "
        f"{'xgboost':>7}",
    ]
    gaps = []
    for target, name in ((bench.xgb, XGB_MODEL), (bench.lr, LR_MODEL)):
        timings, model_and_contract = in_process(
            bench.settings, name, bench.versions[name], bench.instances
        )
        for rows, timing in timings.items():
            library = "" if timing.library_us is None else f" {timing.library_us:>7.0f}"
            out.append(
                f"  {target.label:<30} {rows:>4} | {timing.scores_us:>7.0f} "
                f"{timing.checked_us:>7.0f} {timing.handle_us:>7.0f} {timing.batch_path_us:>7.0f}"
                + library
            )
        gaps.append(
            f"{target.label} ({describe(model_and_contract[0], model_and_contract[2])}): "
            f"{parity(model_and_contract, bench.instances[:100], answers[target.label]):.1e}"
        )
    out.append(
        "  parity, HTTP answer vs batch path, 100 rows, max |score diff|: " + "; ".join(gaps)
    )
    out.append("")


def cold_section(bench: Bench, chosen: Setting, out: list[str]) -> float:
    """The cold start's median, in seconds, of the chosen setting."""
    runs = bench.args.cold_runs
    measured = {chosen: cold_start(bench.xgb, chosen, bench.bodies[1], runs, bench.logs)}
    if chosen.workers > 1:  # each worker imports on its own: one worker is the lower bound
        single = Setting(1, chosen.threads)
        measured[single] = cold_start(bench.xgb, single, bench.bodies[1], runs, bench.logs)
    out.append(
        "cold start, XGBoost (spawn gunicorn -> first 200 to a 1-row POST, the model read from "
        f"the storage emulator), {runs} runs each:"
    )
    for setting, times in measured.items():
        out.append(
            f"  {setting!s:<18} median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f})"
        )
    plain, _ = run_probe(bench.xgb, bench.bodies[1], importtime=False)
    timed, trace = run_probe(bench.xgb, bench.bodies[1], importtime=True)
    out.append(
        f"  one interpreter, no gunicorn: functions-framework loads the function in "
        f"{plain['import_s']:.2f} s, its first request takes {plain['first_request_s']:.2f} s "
        f"(under -X importtime: {timed['import_s']:.2f} s + {timed['first_request_s']:.2f} s)"
    )
    out += import_breakdown(parse_importtime(trace), timed["modules"])
    out.append("")
    return statistics.median(measured[chosen])


def import_breakdown(lines: list[ImportLine], imported: list[str]) -> list[str]:
    phases = ("import", "first request")
    by_group: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(phases, 0))
    for line in lines:
        by_group[package_group(line.module)][line.phase] += line.self_us
    ranked = sorted(by_group.items(), key=lambda item: -sum(item[1].values()))
    shown, hidden = ranked[:14], ranked[14:]
    rows = [
        *shown,
        (f"the other {len(hidden)}", {p: sum(g[p] for _, g in hidden) for p in phases}),
        ("total", {p: sum(line.self_us for line in lines if line.phase == p) for p in phases}),
    ]
    out = [
        "  import time by package (python -X importtime, self times summed, ms): "
        "importing the function | its first request",
    ]
    for group, times in rows:
        at_import, on_request = times["import"] / 1000, times["first request"] / 1000
        out.append(f"    {group:<28} {at_import:>7.0f} | {on_request:>7.0f}")
    for package in WATCHED:
        chain = import_chain(lines, package)
        if package in imported:
            found = f"yes: {chain}"
        else:
            found = f"no (tried and refused: {chain})" if chain else "no"
        out.append(f"  {package} on the XGBoost serving path: {found}")
    return out


def paired_section(bench: Bench, chosen: Setting, out: list[str]) -> list[Pair]:
    """XGBoost and the empty handler, 1 row at c=8, measured in turn with both servers up.

    The target's ratio is taken from these pairs rather than from the table, whose targets run
    minutes apart: on a shared machine, slow and fast spells move a run's CPU per request by a
    fifth within minutes, and a pair's two runs fall in the same spell."""
    seconds, warmup, body = bench.args.seconds, bench.args.warmup, bench.body_files[1]
    out.append(
        f"XGBoost 1-row at c=8, then the empty handler, in turn ({bench.args.pairs} pairs, "
        f"{seconds:g} s each after {warmup:g} s of warm-up), served by gunicorn {chosen}:"
    )
    pairs = []
    with (
        serving(bench.xgb, chosen, bench.logs, bench.bodies[1]) as xgb_server,
        serving(bench.empty, chosen, bench.logs, bench.bodies[1]) as empty_server,
    ):
        for number in range(1, bench.args.pairs + 1):
            xgb = run_load(xgb_server, body, 8, seconds, warmup)
            # Run again while the connections split otherwise than XGBoost's: which worker
            # accepts each is chance, and unlike runs are not compared.
            for _ in range(PAIR_TRIES):
                empty = run_load(empty_server, body, 8, seconds, warmup)
                if empty.spread == xgb.spread:
                    break
            pair = Pair(xgb, empty)
            pairs.append(pair)
            out.append(
                f"  {number}: XGBoost {xgb.requests_per_s:.0f} req/s, {cpu_us(xgb):.0f} µs CPU "
                f"per request{split_text(xgb)}; empty {pair.empty.requests_per_s:.0f} req/s, "
                f"{cpu_us(pair.empty):.0f} µs{split_text(pair.empty)} -> {pair.ratio:.2f}x, "
                f"CPU {pair.cpu_ratio:.2f}x" + ("" if pair.alike else " (split unlike)")
                + (" (noisy)" if max(xgb.other_cores, pair.empty.other_cores) > NOISY_CORES else "")
            )  # fmt: skip
            print(out[-1], file=sys.stderr, flush=True)
    out.append("")
    return pairs


def split_text(load: Load) -> str:
    return f" (split {'/'.join(map(str, load.spread))})" if len(load.spread) > 1 else ""


def targets_section(
    bench: Bench,
    chosen: Setting,
    table: dict[tuple[str, int, int], Measured],
    pairs: list[Pair],
    *,
    cold_s: float,
    out: list[str],
) -> None:
    # Only pairs whose runs split the connections alike are compared: a run's req/s, and with
    # threads its CPU per request too, depend on the split. Met when both ratios reach it.
    alike = [pair for pair in pairs if pair.alike]
    if alike:
        ratio = statistics.median(pair.ratio for pair in alike)
        cpu_ratio = statistics.median(pair.cpu_ratio for pair in alike)
        verdict = "met" if min(ratio, cpu_ratio) >= RATIO_TARGET else "NOT met"
        figures = (
            f"median of {len(alike)} pairs split alike: {ratio:.2f}x in req/s, "
            f"{cpu_ratio:.2f}x in server CPU per request -> {verdict}"
        )
    else:
        figures = "inconclusive: no pair's two runs split the connections alike"
    lr_p50 = table[bench.lr.label, 1, 1].median.p50_ms
    lr_p50_c8 = table[bench.lr.label, 1, 8].median.p50_ms
    lr_latency_line = (
        f"  sklearn pipeline 1-row p50 <= {LR_P50_TARGET_MS:g} ms: {lr_p50:.2f} ms at c=1 "
        f"({lr_p50_c8:.2f} ms at c=8) -> {'met' if lr_p50 <= LR_P50_TARGET_MS else 'NOT met'}"
        if chosen.worker_class != "sync"
        else f"  sklearn pipeline 1-row p50 <= {LR_P50_TARGET_MS:g} ms: not measured (the sync "
        "worker's latencies are n/a, see the grid)"
    )
    batch_rps = table[bench.xgb.label, 100, 1].median.requests_per_s
    out += [
        "targets:",
        f"  XGBoost 1-row req/s at c=8 >= {RATIO_TARGET}x the empty handler's, and its server "
        f"CPU per request within 1/{RATIO_TARGET}x: {figures}",
        f"  XGBoost 100-row req/s at c=1 >= {BATCH_RPS_TARGET:g}: {batch_rps:.0f} -> "
        f"{'met' if batch_rps >= BATCH_RPS_TARGET else 'NOT met'}",
        lr_latency_line,
        f"  XGBoost cold start <= {COLD_TARGET_S:g} s: median {cold_s:.2f} s -> "
        f"{'met' if cold_s <= COLD_TARGET_S else 'NOT met'}",
    ]


def measure(
    settings: StackSettings, workdir: Path, args: argparse.Namespace, loads: list[str]
) -> list[str]:
    bench = Bench.prepare(settings, workdir, args)
    out = header(bench)
    chosen = Setting(args.workers, args.threads) if args.no_grid else grid_section(bench, out)
    loads.append(load_average())
    table, answers = main_section(bench, chosen, out)
    pairs = paired_section(bench, chosen, out)
    in_process_section(bench, answers, out)
    cold_s = cold_section(bench, chosen, out)
    targets_section(bench, chosen, table, pairs, cold_s=cold_s, out=out)
    return out


def counts(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured per table run")
    parser.add_argument("--warmup", type=float, default=0.5, help="load before each run")
    parser.add_argument("--grid-seconds", type=float, default=2.0, help="measured per grid run")
    parser.add_argument("--repeats", type=int, default=3, help="runs where workers may split")
    parser.add_argument("--pairs", type=int, default=5, help="XGBoost/empty pairs for the ratio")
    parser.add_argument("--grid-workers", type=counts, default=GRID_WORKERS, help="e.g. 1,2,3,4")
    parser.add_argument("--grid-threads", type=counts, default=GRID_THREADS, help="e.g. 1,2,4,8")
    parser.add_argument("--no-grid", action="store_true", help="serve with the setting given")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cold-runs", type=int, default=5)
    # Long enough for the searches to finish their trials: a search cut by time gives a model
    # whose size, and so the figures, depend on how busy the machine was.
    parser.add_argument("--train-budget", type=float, default=120.0, help="s per search")
    parser.add_argument("--no-log-line", action="store_true", help="skip the logged line")
    args = parser.parse_args()

    begun = time.perf_counter()
    loads = [load_average()]
    autocannon_dir()
    with tempfile.TemporaryDirectory(prefix="cloudscore-online-") as tmp:
        workdir = Path(tmp)
        settings = StackSettings.resolve(workdir / "stack", free_port_base())
        stack.up(settings)
        try:
            report = measure(settings, workdir, args, loads)
        finally:
            stack.down(settings)
    loads.append(load_average())
    report.append(
        f"load average (1/5/15 min) at start {loads[0]}, before the main table {loads[1]}, "
        f"at end {loads[-1]} (past the start it counts this bench's own server and load "
        f"generator); whole run {time.perf_counter() - begun:.0f} s"
    )
    print("\n".join(report))


if __name__ == "__main__":
    main()
