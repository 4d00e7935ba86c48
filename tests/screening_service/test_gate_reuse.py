"""The gate keeps an address's screening while the lists it was screened against are still the current ones:
the same supplier paid many times is screened once per list version, with the same answer."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from corridor.access.model import Principal
from corridor.compliance import gate
from corridor.compliance.screening import service
from corridor.db import Database

from .test_screening_service import OFAC_BTC, zala

UNLISTED = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"


def screenings_of(db: Database, address: str) -> int:
    with db.engine.connect() as connection:
        query = text("SELECT count(*) FROM screening_screenings WHERE subject = :s")
        return int(connection.execute(query, {"s": gate.address_subject(address)}).scalar_one())


def test_an_address_is_screened_again_only_when_a_list_version_changes(
    db: Database, operator: Principal, shared_data: Path
) -> None:
    service.load_list_file(
        db, operator, shared_data / "ofac-sdn-csv-jackdwyer/sdn_2024-05-03.csv", "ofac-csv"
    )
    with db.transaction() as session:
        first = [gate.screen_address(session, "system:tests", a) for a in (OFAC_BTC, UNLISTED)]
    with db.transaction() as session:
        again = [gate.screen_address(session, "system:tests", a) for a in (OFAC_BTC, UNLISTED)]
    assert [o.status for o in again] == [gate.GateStatus.HIT, gate.GateStatus.CLEAR]
    assert again == first  # same standing, same reason, and the screening it rests on
    assert (screenings_of(db, OFAC_BTC), screenings_of(db, UNLISTED)) == (1, 1)

    service.load_list_file(db, operator, zala(shared_data), "ftm")  # a new list: the current set changes
    with db.transaction() as session:
        after = [gate.screen_address(session, "system:tests", a) for a in (OFAC_BTC, UNLISTED)]
    assert [o.status for o in after] == [gate.GateStatus.HIT, gate.GateStatus.CLEAR]
    assert (screenings_of(db, OFAC_BTC), screenings_of(db, UNLISTED)) == (2, 2)
    assert after[1].screening_id != first[1].screening_id


def test_the_same_address_for_another_asset_is_screened_on_its_own(
    db: Database, operator: Principal, shared_data: Path
) -> None:
    service.load_list_file(
        db, operator, shared_data / "ofac-sdn-csv-jackdwyer/sdn_2024-05-03.csv", "ofac-csv"
    )
    with db.transaction() as session:
        gate.screen_address(session, "system:tests", UNLISTED, "BTC")
        gate.screen_address(session, "system:tests", UNLISTED, "XBT")
    assert screenings_of(db, UNLISTED) == 2  # a different query is never answered from another's screening
