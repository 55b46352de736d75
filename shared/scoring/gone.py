"""A file generation that is gone before it could be read in full: deleted, or overwritten.

An event names one generation of an object (`StorageObject.generation`), and every read is of
that generation: a newer one written under the same name is a file of its own, with its own
event. The generation can go at any moment after its event: before the batch function reads
it, part way through, before the pipeline's job that a hand-off launched plans or reads it.
Whoever finds it gone records the run `failed` with the reason worded here, so a run of a file
that went has one reason whichever path met it, and nothing is retried: a generation that is
gone never comes back.

    generation_exists(bucket, name, generation) -> whether a launch still has a file to read
    gone_reason(uri, generation) -> "gs://… generation G was deleted or overwritten before …"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import storage

# How the reason of a run that loaded nothing ends, whichever path recorded it.
NO_ROW_LOADED: Final = "no row was loaded"


def generation_exists(bucket: storage.Bucket, name: str, generation: int) -> bool:
    uri = f"gs://{bucket.name}/{name}#{generation}"
    with transient_errors(f"looking up {uri}"):
        return bucket.get_blob(name, generation=generation) is not None


def gone_reason(uri: str, generation: int) -> str:
    """Why generation `generation` of `uri` could not be read: Cloud Storage answered 404.
    Deleted and overwritten are one case: a newer generation may itself be scored and moved
    out of incoming/ by then, so the name's live object cannot tell them apart."""
    return (
        f"{uri} generation {generation} was deleted or overwritten before it could be read in "
        "full (a newer generation is a file of its own, scored by its own event)"
    )
