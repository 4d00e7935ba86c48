"""Regression on labelled pairs: whole pipeline (retrieval + the default scorer, logic-v2 with the learned
name comparator) against nomenklatura's logic-v2 alone.

Aggregate figures only; no threshold is tuned to a single case. The name comparator never saw these
pairs or their names (training.py removes every cases.csv name before drawing its pairs from the lists).
The benchmark prints the full sweep.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.compliance.screening.evaluation import (
    SCORE_GRID,
    STRENGTH_WALK,
    NamePair,
    best_recall,
    direct_scores,
    mean_scores_by_strength,
    pipeline_scores,
    quality,
    read_cross_script_pairs,
    read_name_bench,
)
from corridor.compliance.screening.index import DEFAULT_CUTOFF, DEFAULT_THRESHOLD
from corridor.compliance.screening.matcher import DEFAULT_ALGORITHM, LOGIC_V2
from corridor.compliance.screening.normalize import has_cyrillic

CASES = "opensanctions-nomenklatura-name-bench/contrib/name_bench/cases.csv"
CROSS_SCRIPT = "watchman-sanctions-testdata/internal/embeddings/testdata/cross_script_pairs.csv"


@pytest.fixture(scope="module")
def cases(shared_data: Path) -> list[NamePair]:
    return read_name_bench(shared_data / CASES)


@pytest.fixture(scope="module")
def pipeline(cases: list[NamePair]) -> list[float]:
    return pipeline_scores(cases)


@pytest.fixture(scope="module")
def logic_v2_alone(cases: list[NamePair]) -> list[float]:
    return direct_scores(cases, LOGIC_V2)


def _best_recall_at_precision(cases: list[NamePair], scores: list[float], precision: float) -> float:
    return best_recall(cases, scores, precision, SCORE_GRID)


def test_pipeline_beats_logic_v2_alone_at_the_alert_threshold(
    cases: list[NamePair], pipeline: list[float], logic_v2_alone: list[float]
) -> None:
    ours = quality(cases, pipeline, DEFAULT_THRESHOLD)
    ceiling = quality(cases, logic_v2_alone, DEFAULT_THRESHOLD)
    # Measured: precision 0.884 vs 0.761, recall 0.878 vs 0.838.
    assert ours.precision >= ceiling.precision + 0.10
    assert ours.f1 >= ceiling.f1 + 0.02
    assert ours.recall >= ceiling.recall + 0.02


def test_best_recall_at_precision_090_improves_on_logic_v2(
    cases: list[NamePair], pipeline: list[float], logic_v2_alone: list[float]
) -> None:
    # Measured: pipeline 0.859 (0.849 before symbol retrieval), logic-v2 alone 0.711 (the goal, 0.95, is
    # not met; see the benchmark).
    assert (
        _best_recall_at_precision(cases, pipeline, 0.9)
        >= _best_recall_at_precision(cases, logic_v2_alone, 0.9) + 0.10
    )


def test_review_band_above_cutoff_keeps_most_true_matches(
    cases: list[NamePair], pipeline: list[float]
) -> None:
    """The comparator scores a name with one part replaced by another real name (Kim Yong-chol / Kim
    Yong-chun) and a different series number as a different organisation (Fund III / Fund IV), so fewer
    labelled-positive variants stay in the review band than with logic-v2 (0.99): measured 0.892."""
    assert quality(cases, pipeline, DEFAULT_CUTOFF).recall >= 0.87


def test_retrieval_loses_no_cyrillic_latin_pair(cases: list[NamePair], pipeline: list[float]) -> None:
    """Misses on these pairs are the scorer's (e.g. a bare "Serej Lavrov"), never candidate generation's."""
    cross = [i for i, p in enumerate(cases) if has_cyrillic(p.query) != has_cyrillic(p.candidate)]
    assert len(cross) >= 5
    ceiling = direct_scores([cases[i] for i in cross], DEFAULT_ALGORITHM)
    assert [pipeline[i] for i in cross] == pytest.approx(ceiling)


def test_watchman_cyrillic_pairs_all_match(shared_data: Path) -> None:
    pairs = [p for p in read_cross_script_pairs(shared_data / CROSS_SCRIPT) if has_cyrillic(p.query)]
    assert len(pairs) == 4
    assert all(score >= DEFAULT_THRESHOLD for score in pipeline_scores(pairs))


def test_watchman_cross_script_pairs_in_romanised_scripts_match(shared_data: Path) -> None:
    """All 22 pairs are positives. Measured at the alert threshold: 16 (11 before symbol retrieval and the
    romanised variant): every Cyrillic, Greek, Hebrew and Arabic pair, three of four in Han and the Thai one;
    not Kim Jong Un in Han, nor the Hangul and Kana pairs, whose romanisation (gimjeong-eun) rigour
    leaves unaligned with the Latin spelling and whose parts its name tables do not know."""
    pairs = read_cross_script_pairs(shared_data / CROSS_SCRIPT)
    assert len(pairs) == 22
    assert sum(score >= DEFAULT_THRESHOLD for score in pipeline_scores(pairs)) >= 16


def test_label_strengths_are_read(cases: list[NamePair]) -> None:
    strengths = {p.strength for p in cases}
    assert strengths == {"STRONG", "MEDIUM", "WEAK"}
    assert sum(p.strength == "WEAK" for p in cases) == 36


def _mean_score_walk(cases: list[NamePair], scores: list[float]) -> list[float]:
    """Mean score per label strength, from STRONG match down to STRONG non-match (name_bench's check)."""
    walk = mean_scores_by_strength(cases, scores)
    assert [(strength, is_match) for strength, is_match, _ in walk] == list(STRENGTH_WALK)
    return [mean for *_, mean in walk]


def test_scores_fall_with_label_strength_where_logic_v2_inverts(
    cases: list[NamePair], pipeline: list[float], logic_v2_alone: list[float]
) -> None:
    """Measured: pipeline 0.953, 0.880, 0.638, 0.562, 0.225, 0.151; logic-v2 alone scores WEAK non-matches
    (0.80) above WEAK matches (0.69)."""
    ours = _mean_score_walk(cases, pipeline)
    assert ours == sorted(ours, reverse=True)
    theirs = _mean_score_walk(cases, logic_v2_alone)
    assert theirs != sorted(theirs, reverse=True)
