"""Where the third-party test and benchmark data lives (never shipped inside the package).

Tests and benchmarks read real data from ``../shared/data`` beside the repository (see its SOURCES.md).
``CORRIDOR_SHARED_DATA`` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path:
    """Return the folder of shared third-party data, or raise if it cannot be found."""
    override = os.environ.get("CORRIDOR_SHARED_DATA")
    if override:
        return Path(override).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder.parent / "shared" / "data"
            if (candidate / "SOURCES.md").is_file():
                return candidate
    raise FileNotFoundError(
        "shared test data not found: set CORRIDOR_SHARED_DATA or keep ../shared/data beside the repo"
    )
