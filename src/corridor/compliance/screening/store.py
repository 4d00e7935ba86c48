"""Tables and queries of screening: list versions, the entities of each version (JSON), screenings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from corridor.compliance.screening.model import (
    EntitySchema,
    Identifier,
    IdScheme,
    ListedEntity,
    ListedName,
    NameKind,
)
from corridor.db import metadata

list_versions = Table(
    "screening_list_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(100), nullable=False, index=True),
    Column("list_format", String(32), nullable=False),
    Column("published", String(64), nullable=True),
    Column("content_sha256", String(64), nullable=False),
    Column("entity_count", Integer, nullable=False),
    Column("counts", Text, nullable=False),
    Column("loaded_at", String(32), nullable=False),
    Column("loaded_by", String(100), nullable=False),
    Column("previous_id", String(64), nullable=True),
    Column("added", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("is_current", Boolean, nullable=False),
)

list_entities = Table(
    "screening_list_entities",
    metadata,
    Column("version_id", String(64), ForeignKey("screening_list_versions.id"), primary_key=True),
    Column("list_id", String(200), primary_key=True),
    Column("data", Text, nullable=False),
)

screenings = Table(
    "screening_screenings",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(200), nullable=False, index=True),
    Column("query", Text, nullable=False),
    Column("list_version_ids", Text, nullable=False),
    Column("algorithm", String(64), nullable=False),
    Column("algorithm_version", String(64), nullable=False),
    Column("threshold", String(16), nullable=False),
    Column("candidates", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredListVersion:
    id: str
    source: str
    list_format: str
    published: str | None
    content_sha256: str
    entity_count: int
    counts: dict[str, int]
    loaded_at: str
    loaded_by: str
    previous_id: str | None
    diff: dict[str, int]
    is_current: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "list_format": self.list_format,
            "published": self.published,
            "content_sha256": self.content_sha256,
            "entity_count": self.entity_count,
            "counts": self.counts,
            "loaded_at": self.loaded_at,
            "previous_id": self.previous_id,
            "diff": self.diff,
            "is_current": self.is_current,
        }


@dataclass(frozen=True, slots=True)
class StoredScreening:
    id: str
    kind: str
    subject: str
    query: dict[str, Any]
    list_version_ids: list[str]
    algorithm: str
    algorithm_version: str
    threshold: str
    candidates: list[dict[str, Any]]
    outcome: str
    actor: str
    created_at: str


# --- entity <-> JSON ----------------------------------------------------------------------------------


def entity_to_json(entity: ListedEntity) -> str:
    data = {
        "list_id": entity.list_id,
        "schema": entity.schema.value,
        "names": [[n.value, n.kind.value, n.script] for n in entity.names],
        "identifiers": [[i.scheme.value, i.value, i.asset, i.country, i.raw] for i in entity.identifiers],
        "countries": list(entity.countries),
        "birth_dates": list(entity.birth_dates),
        "programs": list(entity.programs),
        "gender": entity.gender,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def entity_from_json(text: str) -> ListedEntity:
    data = json.loads(text)
    return ListedEntity(
        list_id=data["list_id"],
        schema=EntitySchema(data["schema"]),
        names=tuple(ListedName(v, NameKind(k), s) for v, k, s in data["names"]),
        identifiers=tuple(Identifier(IdScheme(sc), v, a, c, r) for sc, v, a, c, r in data["identifiers"]),
        countries=tuple(data["countries"]),
        birth_dates=tuple(data["birth_dates"]),
        programs=tuple(data["programs"]),
        gender=data["gender"],
    )


# --- list versions ------------------------------------------------------------------------------------


def _version(row: Any) -> StoredListVersion:
    return StoredListVersion(
        id=row.id,
        source=row.source,
        list_format=row.list_format,
        published=row.published,
        content_sha256=row.content_sha256,
        entity_count=row.entity_count,
        counts=json.loads(row.counts),
        loaded_at=row.loaded_at,
        loaded_by=row.loaded_by,
        previous_id=row.previous_id,
        diff={"added": row.added, "removed": row.removed, "changed": row.changed, "unchanged": row.unchanged},
        is_current=bool(row.is_current),
    )


def current_versions(session: Session) -> list[StoredListVersion]:
    rows = session.execute(
        select(list_versions).where(list_versions.c.is_current.is_(True)).order_by(list_versions.c.source)
    )
    return [_version(row) for row in rows]


def current_version_of(session: Session, source: str, for_update: bool = False) -> StoredListVersion | None:
    query = select(list_versions).where(
        list_versions.c.source == source, list_versions.c.is_current.is_(True)
    )
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).first()
    return _version(row) if row is not None else None


def versions_by_ids(session: Session, ids: Sequence[str]) -> list[StoredListVersion]:
    if not ids:
        return []
    rows = session.execute(select(list_versions).where(list_versions.c.id.in_(list(ids))))
    by_id = {row.id: _version(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def insert_version(session: Session, version: StoredListVersion, entities: Iterable[ListedEntity]) -> None:
    if version.previous_id is not None:
        session.execute(
            update(list_versions).where(list_versions.c.id == version.previous_id).values(is_current=False)
        )
    session.execute(
        insert(list_versions).values(
            id=version.id,
            source=version.source,
            list_format=version.list_format,
            published=version.published,
            content_sha256=version.content_sha256,
            entity_count=version.entity_count,
            counts=json.dumps(version.counts, sort_keys=True),
            loaded_at=version.loaded_at,
            loaded_by=version.loaded_by,
            previous_id=version.previous_id,
            added=version.diff["added"],
            removed=version.diff["removed"],
            changed=version.diff["changed"],
            unchanged=version.diff["unchanged"],
            is_current=version.is_current,
        )
    )
    rows = [{"version_id": version.id, "list_id": e.list_id, "data": entity_to_json(e)} for e in entities]
    for start in range(0, len(rows), 2000):
        session.execute(insert(list_entities), rows[start : start + 2000])


def entities_of(session: Session, version_id: str) -> list[ListedEntity]:
    rows = session.execute(
        select(list_entities.c.data)
        .where(list_entities.c.version_id == version_id)
        .order_by(list_entities.c.list_id)
    )
    return [entity_from_json(row.data) for row in rows]


# --- screenings ---------------------------------------------------------------------------------------


def insert_screening(session: Session, screening: StoredScreening) -> None:
    session.execute(
        insert(screenings).values(
            id=screening.id,
            kind=screening.kind,
            subject=screening.subject,
            query=json.dumps(screening.query, sort_keys=True, ensure_ascii=False),
            list_version_ids=json.dumps(screening.list_version_ids),
            algorithm=screening.algorithm,
            algorithm_version=screening.algorithm_version,
            threshold=screening.threshold,
            candidates=json.dumps(screening.candidates, ensure_ascii=False),
            outcome=screening.outcome,
            actor=screening.actor,
            created_at=screening.created_at,
        )
    )


def get_screening(session: Session, screening_id: str) -> StoredScreening | None:
    row = session.execute(select(screenings).where(screenings.c.id == screening_id)).first()
    if row is None:
        return None
    return StoredScreening(
        id=row.id,
        kind=row.kind,
        subject=row.subject,
        query=json.loads(row.query),
        list_version_ids=json.loads(row.list_version_ids),
        algorithm=row.algorithm,
        algorithm_version=row.algorithm_version,
        threshold=row.threshold,
        candidates=json.loads(row.candidates),
        outcome=row.outcome,
        actor=row.actor,
        created_at=row.created_at,
    )
