"""The learned name comparator (logic-v2+names): stored model, calibration, explanations, and the
training draw's separation from the evaluation set."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from corridor.compliance.screening.index import DEFAULT_THRESHOLD, ScreeningIndex
from corridor.compliance.screening.matcher import LOGIC_V2_NAMES, entity_proxy, query_proxy
from corridor.compliance.screening.model import (
    EntitySchema,
    ListedEntity,
    ListedName,
    ListSnapshot,
    PartyQuery,
    make_snapshot,
)
from corridor.compliance.screening.names import FEATURES, SCORE_ANCHOR, NameModel, calibrate, stored_model
from corridor.compliance.screening.normalize import numeric_variant
from corridor.compliance.screening.training import draw_pairs, evaluation_names

_ids = itertools.count()


def _score(query: str, listed: str) -> tuple[float, str]:
    candidate = entity_proxy(
        ListedEntity("x", EntitySchema.PERSON, (ListedName(listed),)), f"test-names-{next(_ids)}"
    )
    score, features = LOGIC_V2_NAMES.score(query_proxy(PartyQuery(query, EntitySchema.PERSON)), candidate)
    return score, " ".join(f.detail or "" for f in features)


def test_stored_model_round_trips_and_names_its_features() -> None:
    model = stored_model()
    assert model.features == FEATURES and 0.0 < model.threshold < 1.0
    assert model.meta["excluded_evaluation_names"] is True
    assert NameModel.from_json(model.as_json()) == model
    with pytest.raises(ValueError):
        NameModel.from_json({**model.as_json(), "features": ["other"]})


def test_calibration_is_monotone_and_puts_the_model_threshold_on_the_alert_threshold() -> None:
    threshold = stored_model().threshold
    assert calibrate(threshold, threshold, SCORE_ANCHOR) == pytest.approx(DEFAULT_THRESHOLD)
    points = [calibrate(p / 100, threshold, SCORE_ANCHOR) for p in range(101)]
    assert points[0] == 0.0 and points[-1] == pytest.approx(1.0)
    assert points == sorted(points)


def test_a_typo_stays_a_match_and_a_relative_is_told_apart() -> None:
    """Real listed relatives (the Zakharovs in the OpenSanctions zala fixture)."""
    typo, explained = _score("Svetlana Nikolaevna Zakhrova", "Svetlana Nikolaevna Zakharova")
    assert typo >= DEFAULT_THRESHOLD
    assert "model" in explained and "fuzzyMatch" in explained and "logic-v2" in explained
    brother, _ = _score("Nikita Aleksandrovich Zakharov", "Lavrentiy Aleksandrovich Zakharov")
    sister_in_law, _ = _score("Svetlana Nikolaevna Osetrova", "Svetlana Nikolaevna Zakharova")
    assert brother < 0.3 and sister_in_law < 0.3
    literal, _ = _score("Maria Osetrova", "MARIA OSETROVA")
    assert literal == 1.0


def test_training_draws_no_name_of_the_evaluation_set(shared_data: Path, zala_snapshot: ListSnapshot) -> None:
    excluded = evaluation_names(shared_data)
    assert len(excluded) > 1000
    names = sorted({n.value.casefold() for e in zala_snapshot.entities.values() for n in e.names})
    pairs = draw_pairs([zala_snapshot], excluded | {names[0]})
    assert pairs and {p.label for p in pairs} == {True, False}
    used = {" ".join(n.casefold().split()) for p in pairs for n in (p.query, p.candidate)}
    assert not used & (excluded | {names[0]})


def _org_score(query: str, listed: str) -> float:
    candidate = entity_proxy(
        ListedEntity("x", EntitySchema.ORGANIZATION, (ListedName(listed),)), f"test-names-{next(_ids)}"
    )
    score, _ = LOGIC_V2_NAMES.score(query_proxy(PartyQuery(query, EntitySchema.ORGANIZATION)), candidate)
    return score


def test_an_initial_matches_its_name_and_not_another() -> None:
    assert _score("M. Osetrova", "Maria Osetrova")[0] >= DEFAULT_THRESHOLD
    assert _score("M. Osetrova", "Svetlana Osetrova")[0] < DEFAULT_THRESHOLD


def test_numbers_written_out_meet_digits_in_organisation_names_only() -> None:
    assert numeric_variant("Brigade Forty-Four") == "Brigade 44"
    assert numeric_variant("First International Bank") == "1st International Bank"
    assert numeric_variant("Gazprom Neft") is None
    assert _org_score("Brigade Forty-Four", "Brigade 44") >= DEFAULT_THRESHOLD
    assert _org_score("Second Avenue Holdings", "5th Avenue Holdings") < DEFAULT_THRESHOLD
    person = query_proxy(PartyQuery("Ten Li Wei", EntitySchema.PERSON))  # Ten is a surname
    assert person.get("alias") == []


def test_names_in_scripts_without_romanisation_still_retrieve_each_other() -> None:
    """rigour cannot romanise Khmer: its tokens are kept as written, so the index still has keys for them."""
    listed = ListedEntity("khm", EntitySchema.PERSON, (ListedName("ហ៊ុន ម៉ាណែត"),))
    index = ScreeningIndex.build([make_snapshot("t", None, "", [listed], "test")])
    found = index.screen(PartyQuery("ហ៊ុន ម៉ាណែត", EntitySchema.PERSON), cutoff=0.0)
    assert [c.list_id for c in found.candidates] == ["khm"]
