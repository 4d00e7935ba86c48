from __future__ import annotations

import csv
import gzip
from pathlib import Path

from corridor.compliance.screening.model import (
    EntitySchema,
    IdScheme,
    ListDelta,
    ListSnapshot,
    NameKind,
    apply_delta,
    diff,
)
from corridor.compliance.screening.sources import load_list
from corridor.compliance.screening.sources.ofac_csv import OfacCsvFiles, crypto_addresses, load_ofac_csv

YENTE = "opensanctions-yente-fixtures/tests/fixtures/dataset"


def _first_column(path: Path) -> set[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return {row[0] for row in csv.reader(handle) if row and row[0].isdigit()}


def test_ofac_csv_loads_every_row_with_version_fields(
    ofac_snapshot: ListSnapshot, ofac_files: OfacCsvFiles
) -> None:
    assert set(ofac_snapshot.entities) == _first_column(ofac_files.primary)
    assert ofac_snapshot.source == "ofac-sdn"
    assert ofac_snapshot.published == "2024-05-03"
    assert len(ofac_snapshot.content_sha256) == 64
    assert ofac_snapshot.version.entity_count == len(ofac_snapshot.entities)


def test_ofac_remarks_give_birth_date_gender_weak_aliases_and_addresses(ofac_snapshot: ListSnapshot) -> None:
    yan = ofac_snapshot.entities["25308"]
    assert yan.schema is EntitySchema.PERSON
    assert yan.birth_dates == ("1977-03-25",)
    assert yan.gender == "male"
    assert ("ZHOU, William", NameKind.WEAK) in {(n.value, n.kind) for n in yan.names}
    assert "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h" in {a.value for a in yan.crypto_addresses if a.asset == "BTC"}


def test_ofac_russian_tax_ids_become_inn_and_registration_numbers_ogrn(
    ofac_snapshot: ListSnapshot, ofac_files: OfacCsvFiles
) -> None:
    raw = ofac_files.primary.read_text(encoding="utf-8", errors="replace")
    raw += (ofac_files.comments or ofac_files.primary).read_text(encoding="utf-8", errors="replace")
    inns = {
        i.value for e in ofac_snapshot.entities.values() for i in e.identifiers if i.scheme is IdScheme.INN
    }
    ogrns = {
        i.value for e in ofac_snapshot.entities.values() for i in e.identifiers if i.scheme is IdScheme.OGRN
    }
    assert len(inns) > 100 and len(ogrns) > 100
    assert all(len(v) in (10, 12) and f"Tax ID No. {v} (Russia)" in raw for v in inns)
    assert all(len(v) in (13, 15) and f" {v} (Russia)" in raw for v in ogrns)


def test_comments_file_completes_addresses_truncated_in_sdn_csv(
    shared_data: Path, ofac_files: OfacCsvFiles
) -> None:
    xbt = set((shared_data / "ofac-crypto-addresses-0xB10C/sanctioned_addresses_XBT.txt").read_text().split())
    alone = load_ofac_csv(OfacCsvFiles(primary=ofac_files.primary))
    joined = load_ofac_csv(ofac_files)
    alone_btc = {a.value for e in alone.entities.values() for a in e.crypto_addresses if a.asset == "BTC"}
    joined_btc = {a.value for e in joined.entities.values() for a in e.crypto_addresses if a.asset == "BTC"}
    assert alone_btc < joined_btc
    # No truncated fragment is taken for an address: everything extracted is on 0xB10C's list.
    assert joined_btc <= xbt


def test_truncated_address_at_end_of_remarks_is_dropped() -> None:
    found = crypto_addresses("Digital Currency Address - XBT 1Gq")
    assert found == []
    whole = crypto_addresses("alt. Digital Currency Address - XBT 12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h;")
    assert [(a.asset, a.value) for a in whole] == [("BTC", "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h")]


def test_ofac_folder_with_standard_names_is_discovered(shared_data: Path) -> None:
    folder = shared_data / "watchman-sanctions-testdata/test/testdata"
    snapshot = load_list(folder, "ofac-csv")
    assert isinstance(snapshot, ListSnapshot)
    assert set(snapshot.entities) == _first_column(folder / "sdn.csv")
    bnc = snapshot.entities["306"]
    assert "NATIONAL BANK OF CUBA" in {n.value for n in bnc.names}
    assert "Switzerland" in bnc.countries


def test_diff_between_two_ofac_publications_matches_id_sets(
    shared_data: Path, ofac_snapshot: ListSnapshot
) -> None:
    older_path = shared_data / "ofac-sdn-csv-jackdwyer/sdn_2021-08-18.csv"
    older = load_ofac_csv(older_path)
    change = diff(older, ofac_snapshot)
    old_ids, new_ids = _first_column(older_path), set(ofac_snapshot.entities)
    assert set(change.added) == new_ids - old_ids
    assert set(change.removed) == old_ids - new_ids
    assert change.counts["changed"] + change.counts["unchanged"] == len(old_ids & new_ids)
    assert change.changed and not diff(older, older).changed


def test_un_xml_streams_all_individuals_and_entities(shared_data: Path, un_snapshot: ListSnapshot) -> None:
    raw = (shared_data / "un-consolidated-older-perchrh/un_consolidated.xml").read_bytes()
    assert len(un_snapshot.entities) == raw.count(b"<INDIVIDUAL>") + raw.count(b"<ENTITY>")
    assert un_snapshot.published is not None and un_snapshot.published.startswith("2018-10-29")
    scripts = {n.script for e in un_snapshot.entities.values() for n in e.names}
    assert "ARABIC" in scripts


def test_eu_jsonl_loads_one_entity_per_line(shared_data: Path, eu_snapshot: ListSnapshot) -> None:
    path = shared_data / "eu-consolidated-ammitto-derived/eu_fsf_entities.ammitto.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = sum(1 for line in handle if line.strip())
    assert len(eu_snapshot.entities) == lines
    assert eu_snapshot.source == "eu-fsf"


def test_ftm_entities_keep_inn_and_ogrn(zala_snapshot: ListSnapshot) -> None:
    cst = zala_snapshot.entities["NK-abdzbEBkqyT29GyREbiURZ"]
    assert (IdScheme.INN, "1841015504") in {(i.scheme, i.value) for i in cst.identifiers}
    assert (IdScheme.OGRN, "1101841007938") in {(i.scheme, i.value) for i in cst.identifiers}
    # Sanction entities are folded into their target, not listed as parties.
    assert all(e.schema is not None for e in zala_snapshot.entities.values())
    assert not any(list_id.startswith("gb-fcdo") for list_id in zala_snapshot.entities)


def test_ftm_delta_files_apply_in_order(shared_data: Path) -> None:
    base = load_list(shared_data / YENTE / "t1/entities.ftm.json", "ftm")
    assert isinstance(base, ListSnapshot)
    current = base
    for version in ("20240527194702-wnk", "20240528014702-pfh", "20240528134729-3iv"):
        delta = load_list(shared_data / YENTE / f"t2/{version}/entities.delta.json", "ftm")
        assert isinstance(delta, ListDelta)
        assert delta.published == version
        updated = apply_delta(current, delta)
        change = diff(current, updated)
        upserted = {e.list_id for e in delta.upserts}
        assert set(change.added) | set(change.changed) <= upserted
        assert set(change.added) == upserted - set(current.entities)
        assert updated.parent_sha256 == current.content_sha256
        current = updated
    assert len(current.entities) > len(base.entities)
