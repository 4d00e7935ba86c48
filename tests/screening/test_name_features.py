"""The comparator's structural features (names.py): part order, patronymic generations, Slavic patronymics,
series numbers. Pure rules get unit tests; the symmetric ones a property test each. Names are from the UN and
OFAC lists in shared data."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from corridor.compliance.screening.index import DEFAULT_THRESHOLD
from corridor.compliance.screening.matcher import LOGIC_V2_NAMES, entity_proxy, query_proxy
from corridor.compliance.screening.model import EntitySchema, ListedEntity, ListedName, PartyQuery
from corridor.compliance.screening.names import (
    generations,
    is_patronymic,
    order_inversions,
    patronymic_swaps,
)
from corridor.compliance.screening.training import _generation_swapped

_ids = itertools.count()


def _score(query: str, listed: str, schema: EntitySchema = EntitySchema.PERSON) -> float:
    candidate = entity_proxy(ListedEntity("x", schema, (ListedName(listed),)), f"test-features-{next(_ids)}")
    score, _ = LOGIC_V2_NAMES.score(query_proxy(PartyQuery(query, schema)), candidate)
    return score


def test_generations_find_own_and_fathers_name_around_the_connector() -> None:
    assert generations(["hamid", "bin", "abdallah", "ahmed", "al", "ali"]) == (0, 2)
    assert generations(["ilham", "heydar", "oglu", "aliyev"]) == (0, 1)
    # A connector that opens the name is part of a family name written first (BIN LADIN, Usama).
    assert generations(["bin", "ladin", "usama"]) is None
    assert generations(["sergey", "viktorovich", "lavrov"]) is None


def test_patronymic_swaps_count_exchanged_generations() -> None:
    hamid = generations(["hamid", "bin", "abdallah", "al", "ali"])
    abdallah = generations(["abdallah", "bin", "hamid", "al", "ali"])
    # Alignment of the same words: hamid 0 <-> 2, bin 1 <-> 1, abdallah 2 <-> 0, al, ali in place.
    swapped = [(0, 2), (1, 1), (2, 0), (3, 3), (4, 4)]
    assert patronymic_swaps(hamid, abdallah, swapped) == 2
    assert patronymic_swaps(hamid, hamid, [(i, i) for i in range(5)]) == 0
    assert patronymic_swaps(hamid, None, swapped) == 0


def test_order_inversions_measure_reordering() -> None:
    assert order_inversions([(0, 0), (1, 1), (2, 2)]) == 0.0
    assert order_inversions([(0, 2), (1, 1), (2, 0)]) == 1.0
    # Surname first (LUKASHENKA, Alyaksandr Ryhorovich / Alyaksandr Ryhorovich Lukashenka): 2 of 3 pairs.
    assert order_inversions([(0, 2), (1, 0), (2, 1)]) == 2 / 3
    assert order_inversions([(0, 0)]) == 0.0


def test_slavic_patronymics_by_suffix() -> None:
    for token in ("ryhorovich", "leonidovich", "viktorovna", "oleksandrovych"):
        assert is_patronymic(token), token
    for token in ("zimovsky", "lukashenka", "ivanov", "rich"):
        assert not is_patronymic(token), token


_positions = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=7)
_generation = st.one_of(st.none(), st.tuples(st.integers(0, 6), st.integers(0, 6)))


@given(_positions)
def test_order_inversions_are_symmetric_and_a_share(aligned: list[tuple[int, int]]) -> None:
    value = order_inversions(aligned)
    assert 0.0 <= value <= 1.0
    assert order_inversions([(r, q) for q, r in aligned]) == value


@given(_generation, _generation, _positions)
def test_patronymic_swaps_are_symmetric(
    query: tuple[int, int] | None, result: tuple[int, int] | None, aligned: list[tuple[int, int]]
) -> None:
    assert patronymic_swaps(query, result, aligned) == patronymic_swaps(
        result, query, [(r, q) for q, r in aligned]
    )


def test_father_and_son_are_told_apart_and_the_connector_spelling_is_not() -> None:
    listed = "Hamid bin Abdallah Ahmed Al-Ali"  # UN consolidated list
    assert _generation_swapped(listed) == "Abdallah bin Hamid Ahmed Al-Ali"
    assert _score("Abdallah bin Hamid Ahmed Al-Ali", listed) < DEFAULT_THRESHOLD
    assert _score("Hamid ibn Abdallah Ahmed al-Ali", listed) >= DEFAULT_THRESHOLD


def test_a_dropped_patronymic_stays_a_match() -> None:
    assert _score("Aleksandr Zimovsky", "Aleksandr Leonidovich ZIMOVSKY") >= DEFAULT_THRESHOLD  # OFAC


def test_series_numbers_in_roman_numerals_tell_organisations_apart() -> None:
    # OFAC lists RIM GROUP INVESTMENTS, ... II and ... III CORP. as separate entities.
    listed = "RIM GROUP INVESTMENTS II CORP."
    assert _score("RIM GROUP INVESTMENTS III CORP.", listed, EntitySchema.COMPANY) < DEFAULT_THRESHOLD
    assert _score("Rim Group Investments II Corporation", listed, EntitySchema.COMPANY) >= DEFAULT_THRESHOLD
