"""`python -m cloudscore.pipeline …`: see `cloudscore.pipeline`."""

from __future__ import annotations

import sys

from shared.errors import CloudscoreError


def main() -> int:
    from cloudscore.pipeline import run

    try:
        result = run(sys.argv[1:])
    except CloudscoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for outcome in result.files:
        print(outcome.line())
    if result.job_id:
        print(f"job {result.job_id}: {result.state}")
    return 1 if any(o.status in ("rejected", "failed") for o in result.files) else 0


if __name__ == "__main__":
    sys.exit(main())
