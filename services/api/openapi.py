"""The saved OpenAPI document (``openapi.json`` at the repository root).

Regenerate after changing the API: ``.venv/bin/python -m services.api.openapi``; a test
fails while the saved document differs from what the app serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson

from services.api.app import create_app
from services.settings import Settings

SAVED: Final = Path(__file__).resolve().parents[2] / "openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document the app serves (independent of any environment variable)."""
    openapi: dict[str, Any] = create_app(Settings(_env_file=None)).openapi()
    return openapi


def serialise(openapi: dict[str, Any]) -> bytes:
    return orjson.dumps(openapi, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


if __name__ == "__main__":
    SAVED.write_bytes(serialise(document()))
    print(f"wrote {SAVED}")
