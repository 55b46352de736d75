"""What a job scores: each source expanded at launch into the exact files (and generations) or
table it names, and how a worker opens them.

    expand(sources, job) -> [InputFile …]        gs:// objects (#generation for one version of
                                                 one) and globs, bq:// tables, local paths
    open_input(file, job) -> a seekable binary stream of that generation
    Range(stream, start, end, prefix)            bytes start…end of a stream, after `prefix`

A file is read at the generation listed at launch: an overwrite while the job runs is a new file,
scored by its own event, and the old generation's reads fail as deleted (the run says so). The
generation a hand-off names may be gone before the job starts: with `keep_gone`, it is listed
all the same (`InputFile.gone`), for the job to record the run that cannot be scored.
"""

from __future__ import annotations

import fnmatch
import glob
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

from shared.errors import UsageError
from shared.retryable import transient_errors

if TYPE_CHECKING:
    from cloudscore.pipeline.options import JobSettings

Kind = Literal["gcs", "local", "bigquery"]
_WILDCARDS: Final = re.compile(r"[*?\[]")
# One generation of an object, as gcloud writes it (gs://bucket/name#generation): what the batch
# function hands off, so that the job scores the generation its event named, not a later one.
_GENERATION: Final = re.compile(r"#([0-9]{1,20})$")
_TABLE: Final = re.compile(r"bq://([a-z][a-z0-9-]{4,28}[a-z0-9])\.(\w{1,1024})\.([\w$-]{1,1024})")


@dataclass(frozen=True)
class InputFile:
    """One generation of one source: a file, or a BigQuery table as it was at launch."""

    uri: str  # gs://bucket/name, bq://project.dataset.table, or an absolute local path
    kind: Kind
    generation: int  # Cloud Storage's; a table's last modification (µs); a local file's mtime (ns)
    size: int  # bytes
    content_type: str | None = None
    rows: int = 0  # a table's rows at launch
    gone: bool = False  # a generation named by a hand-off, found gone at launch (size unknown)

    @property
    def name(self) -> str:
        """The object's name within its bucket (or the path, the table)."""
        if self.kind == "gcs":
            return self.uri.removeprefix("gs://").partition("/")[2]
        return self.uri

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("gs://").partition("/")[0] if self.kind == "gcs" else ""


def expand(
    sources: tuple[str, ...], job: JobSettings, *, keep_gone: bool = False
) -> list[InputFile]:
    """Every file (or table) the sources name, each once, in a stable order. With `keep_gone`,
    a gs://…#generation that no longer exists is listed `gone`, where it would match no file."""
    found: dict[str, InputFile] = {}
    for source in sources:
        if source.startswith("gs://"):
            files = _gcs(source, job, keep_gone=keep_gone)
        elif source.startswith("bq://"):
            files = [_table(source, job)]
        else:
            files = _local(source)
        if not files:
            raise UsageError(f"{source}: matches no file")
        for item in files:
            found.setdefault(item.uri, item)
    return sorted(found.values(), key=lambda f: f.uri)


def _gcs(source: str, job: JobSettings, *, keep_gone: bool) -> list[InputFile]:
    from shared.clients import storage_client

    bucket_name, _, pattern = source.removeprefix("gs://").partition("/")
    generation = _GENERATION.search(pattern)
    if generation is not None:
        pattern = pattern[: generation.start()]
    if not bucket_name or not pattern:
        raise UsageError(
            f"{source}: expected gs://bucket/object, gs://bucket/object#generation or "
            "gs://bucket/glob"
        )
    bucket = storage_client(job.cloud.project).bucket(bucket_name)
    wildcard = _WILDCARDS.search(pattern)
    if generation is not None and wildcard is not None:
        raise UsageError(f"{source}: a #generation names one object, not a glob")
    with transient_errors(f"listing {source}"):
        if generation is not None:
            blob = bucket.get_blob(pattern, generation=int(generation.group(1)))
            if blob is None and keep_gone:
                uri = f"gs://{bucket_name}/{pattern}"
                return [InputFile(uri, "gcs", int(generation.group(1)), 0, gone=True)]
            blobs = [] if blob is None else [blob]
        elif wildcard is None:
            blob = bucket.get_blob(pattern)
            blobs = [] if blob is None else [blob]
        else:
            prefix = pattern[: wildcard.start()]
            blobs = [
                b
                for b in bucket.list_blobs(prefix=prefix)
                if fnmatch.fnmatchcase(b.name, pattern) and not b.name.endswith("/")
            ]
    return [
        InputFile(
            uri=f"gs://{bucket_name}/{b.name}",
            kind="gcs",
            generation=int(b.generation),
            size=int(b.size or 0),
            content_type=b.content_type,
        )
        for b in blobs
    ]


def _table(source: str, job: JobSettings) -> InputFile:
    from google.api_core import exceptions as api_exceptions

    from shared.clients import bigquery_client

    match = _TABLE.fullmatch(source)
    if match is None:
        raise UsageError(f"{source}: expected bq://project.dataset.table")
    project, dataset, name = match.groups()
    client = bigquery_client(job.cloud.project)
    try:
        with transient_errors(f"reading the metadata of {source}"):
            table = client.get_table(f"{project}.{dataset}.{name}")
    except api_exceptions.NotFound as exc:
        raise UsageError(f"{source}: no such table") from exc
    modified = table.modified
    return InputFile(
        uri=source,
        kind="bigquery",
        generation=int(modified.timestamp() * 1_000_000) if modified else 0,
        size=int(table.num_bytes or 0),
        rows=int(table.num_rows or 0),
    )


def _local(source: str) -> list[InputFile]:
    # A pattern anywhere in the path, as a shell reads it (Path.glob takes a relative one).
    paths = sorted(glob.glob(source)) if _WILDCARDS.search(source) else [source]  # noqa: PTH207
    files = []
    for name in paths:
        path = Path(name).resolve()
        if not path.is_file():
            continue
        stat = path.stat()
        files.append(InputFile(str(path), "local", stat.st_mtime_ns, stat.st_size))
    return files


def open_input(item: InputFile, job: JobSettings) -> BinaryIO:
    """The file's bytes as a seekable stream, at the generation listed at launch."""
    if item.kind == "local":
        return Path(item.uri).open("rb")
    if item.kind != "gcs":
        raise UsageError(f"{item.uri}: a table is read by rows, not as a stream")
    from shared.clients import storage_client

    blob = (
        storage_client(job.cloud.project)
        .bucket(item.bucket)
        .blob(item.name, generation=item.generation)
    )
    stream: BinaryIO = blob.open("rb")
    return stream


class Range(io.RawIOBase):
    """`prefix`, then bytes `start` … `end` of `stream` (which it reads, never closes)."""

    def __init__(self, stream: BinaryIO, start: int, end: int, prefix: bytes = b"") -> None:
        super().__init__()
        self._stream = stream
        self._prefix = prefix
        self._position = start
        self._end = end
        stream.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        want = min(len(buffer), self._end - self._position)
        if want <= 0:
            return 0
        data = self._stream.read(want)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
