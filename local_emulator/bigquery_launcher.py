"""Start bqemulator with the two changes it needs to work offline with the real client.

1. At start it downloads DuckDB's `spatial` extension, which fails without internet: loading it
   is skipped (GEOGRAPHY is then unsupported, and cloudscore uses none).
2. `google-cloud-bigquery` sends loads under 5 MiB as multipart with the media part typed `*/*`,
   which bqemulator rejects with 400: that type is accepted as well.

Run as `python -m local_emulator.bigquery_launcher start --rest-port ...` (bqemulator's own CLI).
"""

from __future__ import annotations


def apply_offline_patches() -> None:
    from bqemulator.api.routes import upload
    from bqemulator.storage.engine import DuckDBEngine

    DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]

    permitted = upload._is_permitted_media_type
    upload._is_permitted_media_type = lambda media_ct: (
        media_ct.startswith("*/*") or permitted(media_ct)
    )


def main() -> None:
    apply_offline_patches()
    from bqemulator.cli import main as bqemulator_main

    bqemulator_main(prog_name="bqemulator")


if __name__ == "__main__":
    main()
