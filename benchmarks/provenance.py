"""Which code a benchmark measured: kept free of the service's imports so that the light
benchmarks (scoring, figures) can use it without loading the service."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parent.parent
PRODUCT_CODE: Final = ("services", "scoring", "topics")


def git_commit() -> str:
    """The short HEAD commit, with ``+dirty`` when the product code differs from it."""
    head = _git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{head}+dirty" if _git("status", "--porcelain", "--", *PRODUCT_CODE) else head


def _git(*arguments: str) -> str:
    completed = subprocess.run(
        ["git", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip()
