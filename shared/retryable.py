"""Which failures of Google Cloud calls a retry can fix, translated at the boundary.

A function that raises `TransientError` is retried by the platform; anything permanent is
recorded and acknowledged. Google's client libraries already retry idempotent calls a few times;
what still escapes here is raised as `TransientError` with the original attached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from google.api_core import exceptions as api_exceptions

from shared.errors import PermissionDenied, QueryError, TransientError

TRANSIENT_API_ERRORS: tuple[type[BaseException], ...] = (
    api_exceptions.TooManyRequests,
    api_exceptions.InternalServerError,
    api_exceptions.BadGateway,
    api_exceptions.ServiceUnavailable,
    api_exceptions.GatewayTimeout,
    api_exceptions.RetryError,
    ConnectionError,
    TimeoutError,
)


# BigQuery answers 403 for some quotas too (https://cloud.google.com/bigquery/docs/error-messages).
_QUOTA_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded"})


@contextlib.contextmanager
def transient_errors(what: str) -> Iterator[None]:
    """Raise `TransientError("<what>: …")` for failures a later attempt may not meet, and
    `PermissionDenied("<what>: …")` for a call refused for want of a permission."""
    try:
        yield
    except TRANSIENT_API_ERRORS as exc:
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except api_exceptions.Forbidden as exc:
        reasons = {str(e.get("reason")) for e in (exc.errors or []) if isinstance(e, dict)}
        if reasons & _QUOTA_REASONS:
            raise TransientError(f"{what}: {exc.message}") from exc
        raise PermissionDenied(f"{what}: permission denied: {exc.message}") from exc
    except OSError as exc:
        # requests/urllib3 connection failures surface as OSError subclasses.
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def refused_as_query_error(what: str) -> Iterator[None]:
    """As `transient_errors`, and a query BigQuery refuses (a missing table or column) raised
    as `QueryError("<what>: …")`: permanent, with BigQuery's reason."""
    with transient_errors(what):
        try:
            yield
        except (api_exceptions.BadRequest, api_exceptions.NotFound) as exc:
            raise QueryError(f"{what}: {exc.message}") from exc
