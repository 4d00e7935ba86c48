from __future__ import annotations

from pathlib import Path

import pytest

from corridor.testdata import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()
