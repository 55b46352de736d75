"""Every error cloudscore raises on purpose, in one tree.

    CloudscoreError                 base; carries whether a retry can help and the HTTP status
    ├── ConfigError                 a setting is missing or malformed (names the variable or key)
    ├── UsageError                  a command was called wrongly (names the option and the value)
    ├── EventError                  a CloudEvent is not of the expected type or shape
    ├── DataError                   input data cannot be read as declared (names file, row, column)
    ├── TransientError              a dependency failed in a way a retry may fix (5xx, 429, timeout)
    ├── PermissionDenied            Google Cloud refused a call for want of an IAM permission (403)
    ├── RegistryError               the model registry refused an operation
    │   ├── VersionNotFound         no such model version or alias
    │   ├── VersionExists           a version is immutable: it cannot be written twice
    │   ├── ArtifactTampered        an artifact or manifest differs from the one recorded
    │   ├── AliasConflict           another writer moved the alias first
    │   └── ModelFormatError        a model stored in a format cloudscore does not load
    ├── ApiError                    an HTTP request refused: its status and every problem found
    └── LocalStackError             the local cloud cannot start or answer (names the component)

Permanent errors are recorded and acknowledged; `TransientError` is raised out of a function so
the platform retries it. Third-party exceptions are translated at the boundary with
``raise ... from exc`` so the original cause stays attached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class CloudscoreError(Exception):
    """Base of every error cloudscore raises on purpose."""

    retryable: bool = False
    http_status: int = 500
    # Exit status of the `cloudscore` command when this error ends it.
    exit_code: int = 1


class ConfigError(CloudscoreError):
    """A setting is missing or malformed; the message names it and the expected form."""

    http_status = 500
    exit_code = 2

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


class UsageError(CloudscoreError):
    """A command or API was called with arguments that cannot work."""

    http_status = 400
    exit_code = 2


class EventError(CloudscoreError):
    """An event delivered to a function is not of the type or shape it handles."""

    http_status = 400


class DataError(CloudscoreError):
    """Input data cannot be read as declared."""

    http_status = 400


class TransientError(CloudscoreError):
    """A dependency failed in a way that a later attempt may not."""

    retryable = True
    http_status = 503


class PermissionDenied(CloudscoreError):
    """Google Cloud refused a call for want of an IAM permission (HTTP 403); the message names
    the call, the permission and the resource. Retried like a transient failure: a grant just
    made takes minutes to apply (https://cloud.google.com/iam/docs/access-change-propagation),
    and an event whose retries run out is kept in the dead-letter topic, not lost."""

    retryable = True
    http_status = 503


class QueryError(CloudscoreError):
    """BigQuery refused a query for a reason a retry cannot fix (a missing table or column, a
    table from an older schema); the message says what was being read and BigQuery's reason."""


class SinkError(CloudscoreError):
    """BigQuery refused rows for a reason a retry cannot fix (a missing table, a schema that
    no longer matches, no permission); the message names the table and BigQuery's reason."""


class RegistryError(CloudscoreError):
    """The model registry refused an operation."""


class VersionNotFound(RegistryError):
    http_status = 404


class VersionExists(RegistryError):
    http_status = 409


class ArtifactTampered(RegistryError):
    """Refused to load: an artifact differs from its manifest, or a manifest from the one its
    alias recorded when it was moved."""


class AliasConflict(RegistryError):
    """Of two concurrent alias moves exactly one wins; this is the other. Re-read and retry."""

    http_status = 409


class ModelFormatError(RegistryError):
    """A model file that is not in a format cloudscore loads (an old pickle, a file that is not
    what its name says, a type outside the trusted list); the message says how to move it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request or a row: which instance (None: the request as a whole),
    which field, what was expected and what was found."""

    message: str
    instance: int | None = None
    field: str | None = None
    expected: str | None = None
    found: Any = None
    reason_code: str | None = None


class ApiError(CloudscoreError):
    """A refused HTTP request: its status, a message, and every problem found."""

    def __init__(
        self, status: int, message: str, problems: Sequence[Problem] = (), allow: str = ""
    ) -> None:
        super().__init__(message)
        self.http_status = status
        self.message = message
        self.problems = tuple(problems)
        self.allow = allow  # the Allow header of a 405

    @property
    def status(self) -> int:
        return self.http_status


class LocalStackError(CloudscoreError):
    """The local cloud cannot start, stop or answer; the message names the component."""

    def __init__(self, component: str, problem: str) -> None:
        super().__init__(f"{component}: {problem}")
        self.component = component
        self.problem = problem
