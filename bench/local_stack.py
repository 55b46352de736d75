"""Benchmark of the local cloud itself: how long `up` and `down` take, and how long a file dropped
in the inbox takes to reach the batch function as a CloudEvent (drop → accepted by the function).

Runs a stack of its own on free ports in a temporary folder; prints the figures.
    .venv/bin/python bench/local_stack.py [--files N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from local_emulator import processes, stack
from local_emulator.components import worker_status_file
from local_emulator.settings import DEFAULT_PORTS, HOST, StackSettings
from local_emulator.worker import read_status
from shared import clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=30, help="files to drop one by one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = processes.free_port_base(len(DEFAULT_PORTS), HOST)
        settings = StackSettings.resolve(Path(tmp), base)
        t0 = time.perf_counter()
        stack.up(settings)
        up_s = time.perf_counter() - t0
        try:
            latencies = drop_files(settings, args.files)
        finally:
            t0 = time.perf_counter()
            stack.down(settings)
            down_s = time.perf_counter() - t0
    latencies.sort()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"local up (cold, new state folder): {up_s:.2f} s")
    print(f"local down:                        {down_s:.2f} s")
    print(
        f"drop → accepted by score_file, {len(latencies)} files: "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p90 {latencies[int(len(latencies) * 0.9) - 1] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )


def drop_files(settings: StackSettings, count: int) -> list[float]:
    bucket = clients.storage_client(settings.project, settings.endpoints()).bucket(
        settings.inbox_bucket
    )
    status = worker_status_file(settings, "bridge")
    latencies = []
    for _ in range(count):
        before = int(read_status(status).get("delivered", 0))
        bucket.blob(f"incoming/{uuid.uuid4()}.csv").upload_from_string(b"id,x\n1,2\n")
        dropped = time.perf_counter()
        while int(read_status(status).get("delivered", 0)) <= before:
            if time.perf_counter() - dropped > 30:
                raise SystemExit("a dropped file was not delivered within 30 s")
            time.sleep(0.002)
        latencies.append(time.perf_counter() - dropped)
    return latencies


if __name__ == "__main__":
    main()
