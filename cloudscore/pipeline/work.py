"""The records that travel between the pipeline's stages: small, plain, picklable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudscore.pipeline.inputs import InputFile
from cloudscore.pipeline.splits import Split
from shared.scoring.core import RunInfo


@dataclass(frozen=True)
class FileJob:
    """One file of the job: its run (id, version, time) and the key its load job ids derive
    from (`shared.scoring.claims.run_key`: the batch function's, for the same file and version)."""

    file: InputFile
    key: str
    run: RunInfo
    chunk_rows: int


@dataclass(frozen=True)
class Task:
    """A split to score."""

    job: FileJob
    split: Split

    @property
    def split_key(self) -> str:
        return f"{self.job.key}/{self.split.ident}"


@dataclass(frozen=True)
class FileStart:
    """What planning decided for a file: how many splits it has, or why it is not scored."""

    job: FileJob
    splits: int
    ending: tuple[str, str] | None = None  # (status, reason): rejected before any row was read
    note: str | None = None  # said in the run's record (a file scored as one split, and why)
    already_scored: bool = False


@dataclass(frozen=True)
class SplitResult:
    index: int
    first_row_number: int
    rows_in: int
    rows_scored: int
    rows_rejected: int
    drift: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the split could not be read to its end (its rows before, loaded)
