"""docs/settings.md lists exactly the settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from corridor.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    documented = set(re.findall(r"^\| `(CORRIDOR_[A-Z_]+)` \|", DOC.read_text(), flags=re.MULTILINE))
    defined = {f"CORRIDOR_{name.upper()}" for name in Settings.model_fields}
    assert documented == defined
