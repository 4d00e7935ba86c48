"""The candidate side the index prepares when it is built (cleaned proxy parts, analysed names, per-name
retrieval keys) against what scoring a candidate from scratch gives."""

from __future__ import annotations

import gc
import itertools
import random
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from followthemoney import EntityProxy
from nomenklatura.matching.logic_v2.names.analysis import entity_names
from rigour.names import Name

from corridor.compliance.screening import index as index_module
from corridor.compliance.screening import normalize
from corridor.compliance.screening.index import (
    ScreeningIndex,
    _name_overlaps,
    _names_by_key,
    _prepare,
    type_tag,
)
from corridor.compliance.screening.matcher import LOGIC_V2, assemble, entity_proxy, proxy_parts
from corridor.compliance.screening.model import (
    EntitySchema,
    ListedEntity,
    ListedName,
    ListSnapshot,
    NameKind,
    PartyQuery,
    make_snapshot,
)
from corridor.compliance.screening.normalize import listed_symbol_keys, name_keys

_ids = itertools.count()


def _sample(snapshots: Iterable[ListSnapshot], count: int) -> list[ListedEntity]:
    """Entities of every list, with every one that has a weak alias or more names than are scored."""
    entities = [entity for snapshot in snapshots for entity in snapshot.entities.values()]
    rich = [e for e in entities if len(e.names) > 3 or any(n.kind is NameKind.WEAK for n in e.names)]
    return random.Random(11).sample(entities, count) + random.Random(12).sample(rich, count)


def _subsets(entity: ListedEntity) -> Iterator[tuple[int, ...] | None]:
    yield None
    if len(entity.names) > 3:
        count = len(entity.names)
        yield (0, 1, 2)
        yield (count - 3, count - 2, count - 1)
        yield (0, count // 2, count - 1)


def _signature(names: Iterable[Name]) -> set[tuple[Any, ...]]:
    """Everything an analysed name carries that matching reads."""
    return {
        (
            name.original,
            name.form,
            name.tag,
            name.comparable,
            name.norm_form,
            tuple(
                (p.form, p.index, p.tag, p.latinize, p.numeric, p.ascii, p.integer, p.comparable, p.metaphone)
                for p in name.parts
            ),
            frozenset((str(s.symbol), tuple(p.index for p in s.parts)) for s in name.spans),
        )
        for name in names
    }


def _weak_alias_entity() -> ListedEntity:
    """A weak alias ("Saleh") that marks a part of three other names as a nickname."""
    return ListedEntity(
        "weak",
        EntitySchema.PERSON,
        (
            ListedName("Ali Hassan Mohammed Saleh"),
            ListedName("Ali Hasan Muhammad", NameKind.ALIAS),
            ListedName("Saleh", NameKind.WEAK),
            ListedName("Ali Saleh", NameKind.ALIAS),
            ListedName("Hassan Saleh", NameKind.ALIAS),
        ),
    )


def test_assembled_proxies_are_the_entity_proxy_of_their_names(
    ofac_snapshot: ListSnapshot, un_snapshot: ListSnapshot, eu_snapshot: ListSnapshot
) -> None:
    for entity in [*_sample([ofac_snapshot, un_snapshot, eu_snapshot], 150), _weak_alias_entity()]:
        parts = proxy_parts(entity)
        for chosen in _subsets(entity):
            names = entity.names if chosen is None else tuple(entity.names[i] for i in chosen)
            expected = entity_proxy(replace(entity, names=names), "x").to_dict()
            assert assemble(parts, "x", chosen, EntityProxy).to_dict() == expected, (entity.list_id, chosen)


def test_prepared_names_are_nomenklaturas_analysis_of_the_candidate(
    ofac_snapshot: ListSnapshot, un_snapshot: ListSnapshot, eu_snapshot: ListSnapshot
) -> None:
    checked = 0
    for entity in [*_sample([ofac_snapshot, un_snapshot, eu_snapshot], 150), _weak_alias_entity()]:
        prepared, _ = _prepare(entity)
        for chosen in _subsets(entity):
            proxy = assemble(prepared.parts, f"prepared-test-{next(_ids)}", chosen, EntityProxy)
            analysed = prepared.analysed_names(proxy)
            if analysed is None:
                continue
            checked += 1
            assert _signature(analysed) == _signature(entity_names(proxy, prop=None, is_query=False))
    assert checked > 300


def test_a_subset_that_drops_a_weak_alias_is_analysed_by_nomenklatura() -> None:
    prepared, _ = _prepare(_weak_alias_entity())
    assert prepared.tag_dependent == {"Ali Hassan Mohammed Saleh", "Ali Saleh", "Hassan Saleh"}
    without_weak = assemble(prepared.parts, "w1", (0, 1, 3), EntityProxy)
    assert prepared.analysed_names(without_weak) is None
    with_weak = assemble(prepared.parts, f"prepared-test-{next(_ids)}", (0, 2, 3), EntityProxy)
    analysed = prepared.analysed_names(with_weak)
    assert analysed is not None
    assert _signature(analysed) == _signature(entity_names(with_weak, prop=None, is_query=False))


def test_retrieval_keys_come_out_as_from_the_names_themselves(un_snapshot: ListSnapshot) -> None:
    for entity in _sample([un_snapshot], 300):
        names = [name.value for name in entity.names]
        expected = set(listed_symbol_keys(names, type_tag(entity.schema)))
        expected.update(itertools.chain.from_iterable(name_keys(names).values()))
        assert _prepare(entity)[1] == expected, entity.list_id


def test_name_overlaps_are_the_best_key_per_query_token_summed() -> None:
    rng = random.Random(5)
    keys = [f"t:{i}" for i in range(30)]
    for _ in range(200):
        per_name = [frozenset(rng.sample(keys, rng.randint(0, 8))) for _ in range(rng.randint(4, 40))]
        query = [
            sorted(
                ((k, rng.choice((0.5, 1.0, rng.random() * 5))) for k in rng.sample(keys, 5)),
                key=lambda kw: -kw[1],
            )
            for _ in range(rng.randint(1, 4))
        ]
        direct = [
            sum(max((w for k, w in token if k in names), default=0.0) for token in query)
            for names in per_name
        ]
        assert _name_overlaps(_names_by_key(per_name), len(per_name), query) == direct


@pytest.mark.parametrize("algorithm_name", ["default", "logic-v2"])
def test_screening_scores_what_unprepared_candidates_score(
    un_snapshot: ListSnapshot, monkeypatch: pytest.MonkeyPatch, algorithm_name: str
) -> None:
    entities = [*un_snapshot.entities.values(), _weak_alias_entity()]
    index = ScreeningIndex.build([make_snapshot("un", None, "", entities, "test")])
    rng = random.Random(3)
    queries = [PartyQuery(rng.choice(e.names).value, e.schema) for e in rng.sample(entities, 60)]
    queries += [PartyQuery(q.name.upper()[::-1], q.schema) for q in queries[:10]]
    queries.append(PartyQuery("Hassan Saleh", EntitySchema.PERSON))
    options: dict[str, Any] = {"cutoff": 0.0, "limit": 12}
    if algorithm_name == "logic-v2":
        options["algorithm"] = LOGIC_V2

    def results() -> list[list[tuple[str, float]]]:
        return [
            [(c.entity_ref, c.score) for c in index.screen(query, **options).candidates] for query in queries
        ]

    prepared = results()
    # Every candidate analysed from scratch by nomenklatura, as before names were prepared.
    monkeypatch.setattr(index_module._Prepared, "analysed_names", lambda self, proxy: None)
    assert results() == prepared


def test_romanised_variants_stay_apart_after_the_registry_forgets_them() -> None:
    """高市早苗 / 高石早苗子 romanise to different strings, which are not compared with each other; the
    registry of variants empties when it fills up, and the candidate's must be known again."""
    listed = ListedEntity("jp", EntitySchema.PERSON, (ListedName("高市早苗"),))
    index = ScreeningIndex.build([make_snapshot("t", None, "", [listed], "test")])
    query = PartyQuery("高石早苗子", EntitySchema.PERSON)
    before = [c.score for c in index.screen(query, cutoff=0.0).candidates]
    normalize._ROMANISED.clear()
    normalize._VARIANTS.clear()
    assert [c.score for c in index.screen(query, cutoff=0.0).candidates] == before


def test_builds_leave_the_garbage_collector_as_they_found_it() -> None:
    listed = ListedEntity("gc", EntitySchema.PERSON, (ListedName("Ivan Petrov"),))
    snapshot = make_snapshot("t", None, "", [listed], "test")
    enabled = gc.isenabled()
    try:
        gc.enable()
        ScreeningIndex.build([snapshot])
        assert gc.isenabled()
        with index_module._COLLECTOR_PAUSE:
            assert not gc.isenabled()
            ScreeningIndex.build([snapshot])
            assert not gc.isenabled(), "an overlapping build waits for the last one"
        assert gc.isenabled()
        gc.disable()
        ScreeningIndex.build([snapshot])
        assert not gc.isenabled()
    finally:
        (gc.enable if enabled else gc.disable)()


def test_a_large_build_leaves_what_it_made_out_of_the_collectors_walks() -> None:
    """After a build that left many objects, later full collections do not walk them again (gc.freeze),
    and a cycle an earlier build left, unreferenced since, is still collected at the next large build."""

    class Node:
        def __init__(self) -> None:
            self.me = self

    enabled = gc.isenabled()
    try:
        gc.enable()
        with index_module._COLLECTOR_PAUSE:
            kept = [[i] for i in range(150_000)]  # stands in for an index's many small containers
            node = Node()
        assert gc.get_freeze_count() >= len(kept)
        gone = weakref.ref(node)
        del node
        gc.collect()
        assert gone() is not None, "frozen: not walked by an ordinary collection"
        with index_module._COLLECTOR_PAUSE:
            rebuilt = [[i] for i in range(150_000)]  # a new list version's index, beside the old one
        assert gone() is None
        assert gc.get_freeze_count() >= len(kept) + len(rebuilt)
    finally:
        gc.unfreeze()
        (gc.enable if enabled else gc.disable)()
