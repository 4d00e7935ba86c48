from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from corridor.compliance.screening.index import DEFAULT_THRESHOLD, ScreeningIndex, identifier
from corridor.compliance.screening.model import (
    EntitySchema,
    IdScheme,
    ListedEntity,
    ListSnapshot,
    PartyQuery,
    make_snapshot,
)
from corridor.compliance.screening.normalize import Romanisation, has_cyrillic, transliterate
from corridor.compliance.screening.sources.ofac_csv import OfacCsvFiles


def _refs(index: ScreeningIndex, query: PartyQuery) -> dict[str, float]:
    return {c.entity_ref: c.score for c in index.screen(query).candidates}


def test_listed_name_in_other_order_and_case_is_a_match(full_index: ScreeningIndex) -> None:
    result = full_index.screen(PartyQuery("Xiaobing Yan", EntitySchema.PERSON))
    assert result.candidates[0].entity_ref == "ofac-sdn:25308"
    assert result.candidates[0].score >= DEFAULT_THRESHOLD
    assert result.algorithm == "logic-v2+names" and result.algorithm_version.startswith("nomenklatura-")
    assert "+names-" in result.algorithm_version, "the name model's hash is recorded with the screening"
    assert {v.source for v in result.list_versions} == {"ofac-sdn", "un-sc", "eu-fsf", "opensanctions"}
    assert any(f.feature == "name_model_match" and f.detail for f in result.candidates[0].features)


def test_cyrillic_query_finds_latin_only_listing(
    full_index: ScreeningIndex, ofac_snapshot: ListSnapshot
) -> None:
    listed = ofac_snapshot.entities["45937"]
    assert not any(has_cyrillic(n.value) for n in listed.names)
    scores = _refs(full_index, PartyQuery("Захаров Александр Вячеславович", EntitySchema.PERSON))
    assert scores["ofac-sdn:45937"] >= DEFAULT_THRESHOLD


def test_inn_match_outranks_every_name_match(full_index: ScreeningIndex) -> None:
    query = PartyQuery("Aeroscan", identifiers=(identifier(IdScheme.INN, "1841015504"),))
    result = full_index.screen(query)
    by_id = [c for c in result.candidates if c.matched_by_identifier]
    assert {c.entity_ref for c in by_id} >= {"opensanctions:NK-abdzbEBkqyT29GyREbiURZ"}
    assert result.candidates[: len(by_id)] == tuple(by_id)
    assert all(c.matched_identifier is not None and c.matched_identifier.value == "1841015504" for c in by_id)
    assert any(not c.matched_by_identifier for c in result.candidates), "name matches are still reported"


def test_inn_from_ofac_tax_id_meets_inn_from_opensanctions(full_index: ScreeningIndex) -> None:
    result = full_index.screen(PartyQuery("x", identifiers=(identifier(IdScheme.INN, "1841015504"),)))
    assert {c.source for c in result.candidates if c.matched_by_identifier} == {"ofac-sdn", "opensanctions"}


def test_passport_numbers_only_match_within_the_issuing_country(full_index: ScreeningIndex) -> None:
    wrong_country = identifier(IdScheme.PASSPORT, "G31920875", country="Iran")
    right_country = identifier(IdScheme.PASSPORT, "G31920875", country="China")
    misses = full_index.screen(PartyQuery("x", identifiers=(wrong_country,))).candidates
    assert not any(c.matched_by_identifier for c in misses)
    hits = full_index.screen(PartyQuery("x", identifiers=(right_country,))).candidates
    assert [c.entity_ref for c in hits if c.matched_by_identifier] == ["ofac-sdn:26236"]


def test_org_forms_across_scripts(full_index: ScreeningIndex) -> None:
    scores = _refs(full_index, PartyQuery("ООО Беспилотные Системы", EntitySchema.COMPANY))
    assert scores["opensanctions:NK-cWSvGMvufNH5KwEV88FwTA"] >= DEFAULT_THRESHOLD
    scores = _refs(full_index, PartyQuery("Bespilotnye Sistemy LLC", EntitySchema.COMPANY))
    assert scores["opensanctions:NK-cWSvGMvufNH5KwEV88FwTA"] >= DEFAULT_THRESHOLD


def test_unlisted_names_raise_no_alert(full_index: ScreeningIndex) -> None:
    for name in ("Corridor Settlement Services GmbH", "Hans-Peter Obermeier"):
        assert not full_index.screen(PartyQuery(name)).is_hit


def test_every_listed_xbt_address_in_the_loaded_files_is_found(
    shared_data: Path, full_index: ScreeningIndex, ofac_files: OfacCsvFiles
) -> None:
    xbt = (shared_data / "ofac-crypto-addresses-0xB10C/sanctioned_addresses_XBT.txt").read_text().split()
    remarks = _remarks_by_ent_num(ofac_files.primary, 11)
    # sdn_comments.csv continues a listed record's remarks (cut mid-address); other rows are not listed.
    for ent_num, text in _remarks_by_ent_num(ofac_files.comments or ofac_files.primary, 1).items():
        if ent_num in remarks:
            remarks[ent_num] += text
    everything = "\n".join(remarks.values())
    present = [a for a in xbt if a in everything]
    found = [a for a in xbt if full_index.screen_address(a, "XBT")]
    assert set(present) <= set(found)
    assert len(found) / len(xbt) > 0.85  # the 2024-05 files predate 0xB10C's 2024-09 list
    for address in found:
        assert all(
            hit.source == "ofac-sdn" and hit.asset == "BTC" for hit in full_index.screen_address(address)
        )


def _remarks_by_ent_num(path: Path, column: int) -> dict[str, str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return {row[0]: row[column] for row in csv.reader(handle) if len(row) > column and row[0].isdigit()}


def test_address_normalisation_per_encoding(full_index: ScreeningIndex) -> None:
    bech32 = next(a for a in _listed_btc(full_index) if a.startswith("bc1"))
    base58 = next(a for a in _listed_btc(full_index) if a[0] in "13")
    assert full_index.screen_address(bech32.upper(), "BTC")
    assert full_index.screen_address(base58, "XBT")
    assert not full_index.screen_address(base58.swapcase(), "BTC")
    assert not full_index.screen_address(base58, "LTC")


def _listed_btc(index: ScreeningIndex) -> list[str]:
    entity = index.entity("ofac-sdn:25308")
    assert entity is not None
    addresses = [a.value for a in entity.crypto_addresses]
    bech32_holder = [e for e in _all_with_bech32(index)]
    return addresses + bech32_holder


def _all_with_bech32(index: ScreeningIndex) -> list[str]:
    return [a for (_, a) in index._addresses if a.startswith("bc1")]


def test_threshold_and_cutoff_are_validated(full_index: ScreeningIndex) -> None:
    with pytest.raises(ValueError):
        full_index.screen(PartyQuery("x"), threshold=0.5, cutoff=0.6)
    result = full_index.screen(PartyQuery("Sberbank"), threshold=0.9, cutoff=0.8, limit=3)
    assert result.threshold == 0.9 and len(result.candidates) <= 3
    assert all(c.score >= 0.8 for c in result.candidates)


def _cyrillic_listed(eu_snapshot: ListSnapshot, sample: int) -> list[ListedEntity]:
    people = [
        e
        for e in eu_snapshot.entities.values()
        if e.schema is EntitySchema.PERSON
        and has_cyrillic(e.names[0].value)
        and any(not has_cyrillic(n.value) for n in e.names)
    ]
    return random.Random(7).sample(people, sample)


@pytest.mark.parametrize("system", list(Romanisation))
def test_romanised_queries_find_cyrillic_listings(eu_snapshot: ListSnapshot, system: Romanisation) -> None:
    """Listings keep only their Cyrillic names; queries are the same names in each romanisation."""
    people = _cyrillic_listed(eu_snapshot, 60)
    cyrillic_only = [
        ListedEntity(e.list_id, e.schema, tuple(n for n in e.names if has_cyrillic(n.value))) for e in people
    ]
    index = ScreeningIndex.build([make_snapshot("eu-cyr", None, "", cyrillic_only, "test")])
    found = 0
    for entity in cyrillic_only:
        query = PartyQuery(transliterate(entity.names[0].value, system), EntitySchema.PERSON)
        result = index.screen(query)
        found += any(c.list_id == entity.list_id and c.score >= DEFAULT_THRESHOLD for c in result.candidates)
    assert found / len(cyrillic_only) >= 0.9


def test_cyrillic_queries_find_latin_listings(eu_snapshot: ListSnapshot) -> None:
    people = _cyrillic_listed(eu_snapshot, 60)
    latin_only = [
        ListedEntity(e.list_id, e.schema, tuple(n for n in e.names if not has_cyrillic(n.value)))
        for e in people
    ]
    index = ScreeningIndex.build([make_snapshot("eu-lat", None, "", latin_only, "test")])
    found = 0
    for entity in people:
        result = index.screen(PartyQuery(entity.names[0].value, EntitySchema.PERSON))
        found += any(c.list_id == entity.list_id and c.score >= DEFAULT_THRESHOLD for c in result.candidates)
    assert found / len(people) >= 0.9
