"""Every error cloudscore raises on purpose, in one tree.

    CloudscoreError                 base; carries whether a retry can help and the HTTP status
    ├── ConfigError                 a setting is missing or malformed (names the variable or key)
    ├── UsageError                  a command was called wrongly (names the option and the value)
    ├── EventError                  a CloudEvent is not of the expected type or shape
    ├── DataError                   input data cannot be read as declared (names file, row, column)
    ├── TransientError              a dependency failed in a way a retry may fix (5xx, 429, timeout)
    ├── RegistryError               the model registry refused an operation
    │   ├── VersionNotFound         no such model version or alias
    │   ├── VersionExists           a version is immutable: it cannot be written twice
    │   ├── ArtifactTampered        an artifact's sha256 differs from the one recorded
    │   └── AliasConflict           another writer moved the alias first
    └── LocalStackError             the local cloud cannot start or answer (names the component)

Permanent errors are recorded and acknowledged; `TransientError` is raised out of a function so
the platform retries it. Third-party exceptions are translated at the boundary with
``raise ... from exc`` so the original cause stays attached.
"""

from __future__ import annotations


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
    """Refused to load: loading an unverified joblib file would execute whatever it holds."""


class AliasConflict(RegistryError):
    """Of two concurrent alias moves exactly one wins; this is the other. Re-read and retry."""

    http_status = 409


class LocalStackError(CloudscoreError):
    """The local cloud cannot start, stop or answer; the message names the component."""

    def __init__(self, component: str, problem: str) -> None:
        super().__init__(f"{component}: {problem}")
        self.component = component
        self.problem = problem
