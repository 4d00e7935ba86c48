from __future__ import annotations

from pathlib import Path

import pytest

from corridor.compliance.screening.index import ScreeningIndex
from corridor.compliance.screening.model import ListSnapshot
from corridor.compliance.screening.sources import load_list
from corridor.compliance.screening.sources.ofac_csv import OfacCsvFiles, load_ofac_csv


def ofac_2024_files(shared_data: Path) -> OfacCsvFiles:
    """The 2024-05-03 SDN.CSV with watchman's alt/add/comments files of the same period.

    sdn.csv truncates remarks; sdn_comments.csv holds their continuation, which is where most
    digital-currency addresses of heavily listed parties end up.
    """
    watchman = shared_data / "watchman-sanctions-testdata/pkg/sources/ofac/testdata"
    return OfacCsvFiles(
        primary=shared_data / "ofac-sdn-csv-jackdwyer/sdn_2024-05-03.csv",
        alt=watchman / "alt.csv",
        add=watchman / "add.csv",
        comments=watchman / "sdn_comments.csv",
    )


@pytest.fixture(scope="session")
def ofac_snapshot(shared_data: Path) -> ListSnapshot:
    return load_ofac_csv(ofac_2024_files(shared_data))


@pytest.fixture(scope="session")
def un_snapshot(shared_data: Path) -> ListSnapshot:
    loaded = load_list(shared_data / "un-consolidated-older-perchrh/un_consolidated.xml", "un")
    assert isinstance(loaded, ListSnapshot)
    return loaded


@pytest.fixture(scope="session")
def eu_snapshot(shared_data: Path) -> ListSnapshot:
    loaded = load_list(
        shared_data / "eu-consolidated-ammitto-derived/eu_fsf_entities.ammitto.jsonl.gz", "eu-jsonl"
    )
    assert isinstance(loaded, ListSnapshot)
    return loaded


@pytest.fixture(scope="session")
def zala_snapshot(shared_data: Path) -> ListSnapshot:
    loaded = load_list(
        shared_data / "opensanctions-yente-fixtures/tests/fixtures/dataset/zala/entities.ftm.json", "ftm"
    )
    assert isinstance(loaded, ListSnapshot)
    return loaded


@pytest.fixture(scope="session")
def full_index(
    ofac_snapshot: ListSnapshot,
    un_snapshot: ListSnapshot,
    eu_snapshot: ListSnapshot,
    zala_snapshot: ListSnapshot,
) -> ScreeningIndex:
    return ScreeningIndex.build([ofac_snapshot, un_snapshot, eu_snapshot, zala_snapshot])


@pytest.fixture(scope="session")
def ofac_files(shared_data: Path) -> OfacCsvFiles:
    return ofac_2024_files(shared_data)
