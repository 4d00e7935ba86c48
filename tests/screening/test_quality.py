"""Regression on labelled pairs: whole pipeline (retrieval + logic-v2) against logic-v2 alone.

Aggregate figures only; no threshold is tuned to a single case. The benchmark prints the full sweep.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.compliance.screening.evaluation import (
    NamePair,
    direct_scores,
    pipeline_scores,
    quality,
    read_cross_script_pairs,
    read_name_bench,
)
from corridor.compliance.screening.index import DEFAULT_CUTOFF, DEFAULT_THRESHOLD
from corridor.compliance.screening.normalize import has_cyrillic

CASES = "opensanctions-nomenklatura-name-bench/contrib/name_bench/cases.csv"
CROSS_SCRIPT = "watchman-sanctions-testdata/internal/embeddings/testdata/cross_script_pairs.csv"


@pytest.fixture(scope="module")
def cases(shared_data: Path) -> list[NamePair]:
    return read_name_bench(shared_data / CASES)


@pytest.fixture(scope="module")
def pipeline(cases: list[NamePair]) -> list[float]:
    return pipeline_scores(cases)


def test_pipeline_stays_within_two_points_of_logic_v2_alone(
    cases: list[NamePair], pipeline: list[float]
) -> None:
    ours = quality(cases, pipeline, DEFAULT_THRESHOLD)
    ceiling = quality(cases, direct_scores(cases), DEFAULT_THRESHOLD)
    assert ours.f1 >= ceiling.f1 - 0.02
    assert ours.precision >= ceiling.precision - 0.02


def test_review_band_above_cutoff_keeps_nearly_all_true_matches(
    cases: list[NamePair], pipeline: list[float]
) -> None:
    assert quality(cases, pipeline, DEFAULT_CUTOFF).recall >= 0.93


def test_retrieval_loses_no_cyrillic_latin_pair(cases: list[NamePair], pipeline: list[float]) -> None:
    """Misses on these pairs are the scorer's (e.g. a bare "Serej Lavrov"), never candidate generation's."""
    cross = [i for i, p in enumerate(cases) if has_cyrillic(p.query) != has_cyrillic(p.candidate)]
    assert len(cross) >= 5
    ceiling = direct_scores([cases[i] for i in cross])
    assert [pipeline[i] for i in cross] == pytest.approx(ceiling)


def test_watchman_cyrillic_pairs_all_match(shared_data: Path) -> None:
    pairs = [p for p in read_cross_script_pairs(shared_data / CROSS_SCRIPT) if has_cyrillic(p.query)]
    assert len(pairs) == 4
    assert all(score >= DEFAULT_THRESHOLD for score in pipeline_scores(pairs))
