"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium, which `make browser`
installs. Missing, the tests fail and say so, unless CLOUDSCORE_SKIP_BROWSER=1 skips them.

Each run gets a new profile folder and its own process group; afterwards every process of that
group, or whose command line names that profile, is killed by its PID and must be gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps trying Google's hosts, which this network refuses.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
TIMEOUT_S = 60


@dataclass(frozen=True)
class Chromium:
    executable: Path
    work: Path

    def run(self, *args: str) -> str:
        """Chromium's stdout for one headless run with a fresh profile."""
        profile = Path(os.path.realpath(self.work)) / f"profile-{time.monotonic_ns()}"
        profile.mkdir()
        command = [str(self.executable), *FLAGS, f"--user-data-dir={profile}", *args]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, to find its children by
        )
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            stop_processes(process.pid, profile)
            process.communicate()
            pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {' '.join(command)}")
        finally:
            stop_processes(process.pid, profile)
        if process.returncode != 0:
            pytest.fail(f"chromium exited with {process.returncode}:\n{stderr[-3000:]}")
        return stdout


def live_processes(group: int, profile: Path) -> list[int]:
    """PIDs of running (not zombie) processes in `group` or whose command line names `profile`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        state, _, pgid = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z" and (int(pgid) == group or str(profile).encode() in cmdline):
            found.append(int(entry.name))
    return found


def stop_processes(group: int, profile: Path) -> None:
    """Kill, by PID, what this run left behind, and check that it is gone."""
    deadline = time.monotonic() + 10
    while pids := live_processes(group, profile):
        if time.monotonic() > deadline:
            pytest.fail(f"chromium processes still running after being killed: {pids}")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if os.environ.get("CLOUDSCORE_SKIP_BROWSER") == "1":
        pytest.skip("CLOUDSCORE_SKIP_BROWSER=1: the browser tests are skipped")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package "
            "(`make test` does it too); set CLOUDSCORE_SKIP_BROWSER=1 to skip these tests"
        )
    yield Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium"))


# ---------------------------------------------------------------------------- PNG


@dataclass(frozen=True)
class Picture:
    pixels: npt.NDArray[np.uint8]  # height x width x RGB

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def region(self, x: float, y: float, width: float, height: float) -> npt.NDArray[np.uint8]:
        left, top = max(int(x), 0), max(int(y), 0)
        return self.pixels[top : int(y + height), left : int(x + width)]

    def at(self, x: float, y: float) -> tuple[int, int, int]:
        red, green, blue = self.pixels[int(y), int(x)]
        return int(red), int(green), int(blue)


def read_png(path: Path) -> Picture:
    """An 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes), as RGB pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, offset = {}, 8
    compressed = b""
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IDAT":
            compressed += body
        else:
            chunks[kind] = body
        offset += 12 + length
    header = chunks[b"IHDR"]
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG {header!r}"
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(compressed), dtype=np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    pixels = unfilter(rows[:, 0], rows[:, 1:], channels)
    return Picture(pixels.reshape(height, width, channels)[:, :, :3].copy())


def unfilter(
    kinds: Sequence[int] | npt.NDArray[np.uint8], rows: npt.NDArray[np.uint8], bpp: int
) -> npt.NDArray[np.uint8]:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    out = np.zeros(rows.shape, dtype=np.uint8)
    previous = np.zeros(rows.shape[1], dtype=np.uint8)
    for index, kind in enumerate(kinds):
        row = rows[index]
        if kind == 0:
            current = row.copy()
        elif kind == 1:  # Sub: a running sum per channel
            sums = np.cumsum(row.reshape(-1, bpp).astype(np.int64), axis=0)
            current = (sums % 256).astype(np.uint8).reshape(-1)
        elif kind == 2:  # Up
            current = row + previous
        else:
            current = _unfilter_slowly(int(kind), row, previous, bpp)
        out[index] = current
        previous = current
    return out


def _unfilter_slowly(
    kind: int, row: npt.NDArray[np.uint8], previous: npt.NDArray[np.uint8], bpp: int
) -> npt.NDArray[np.uint8]:
    """Average (3) and Paeth (4), byte by byte: each byte depends on the one to its left."""
    current = [0] * len(row)
    above = previous.tolist()
    for i, value in enumerate(row.tolist()):
        left = current[i - bpp] if i >= bpp else 0
        up = above[i]
        if kind == 3:
            current[i] = (value + (left + up) // 2) & 0xFF
            continue
        corner = above[i - bpp] if i >= bpp else 0
        # Paeth: of left, up and corner, the nearest to left + up - corner (ties in that order)
        to_left, to_up, to_corner = (
            abs(up - corner),
            abs(left - corner),
            abs(left + up - 2 * corner),
        )
        if to_left <= to_up and to_left <= to_corner:
            current[i] = (value + left) & 0xFF
        elif to_up <= to_corner:
            current[i] = (value + up) & 0xFF
        else:
            current[i] = (value + corner) & 0xFF
    return np.array(current, dtype=np.uint8)
