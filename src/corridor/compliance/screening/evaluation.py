"""Quality evaluation on labelled name pairs (nomenklatura's name_bench cases.csv, watchman's pairs).

Each pair is run through the whole pipeline: all right-hand names form one index, each left-hand name is
screened against it, and a pair scores what its right-hand entity scored in that query (0.0 when
retrieval did not return it). So the figures include candidate-retrieval misses, not only scorer errors.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corridor.compliance.screening.index import DEFAULT_CANDIDATES, ScreeningIndex
from corridor.compliance.screening.matcher import (
    DEFAULT_ALGORITHM,
    LOGIC_V2,
    Algorithm,
    entity_proxy,
    query_proxy,
)
from corridor.compliance.screening.model import (
    EntitySchema,
    ListedEntity,
    ListedName,
    NameKind,
    PartyQuery,
    make_snapshot,
)

_SCHEMAS = {schema.value: schema for schema in EntitySchema}
_direct_ids = itertools.count()


@dataclass(frozen=True, slots=True)
class NamePair:
    schema: EntitySchema
    query: str
    candidate: str
    is_match: bool
    group: str = ""
    strength: str = "MEDIUM"
    """How sure the label is (name_bench's ``quality``): STRONG must be right, WEAK is "more tiebreaker
    than fact" and "tolerated to fail on the verdict" (nomenklatura's name_bench README)."""


@dataclass(frozen=True, slots=True)
class Quality:
    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def read_name_bench(path: Path) -> list[NamePair]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            NamePair(
                schema=_SCHEMAS.get(row["schema"], EntitySchema.LEGAL_ENTITY),
                query=row["name1"],
                candidate=row["name2"],
                is_match=row["is_match"].strip().lower() == "true",
                group=row["case_group"],
                strength=(row.get("quality") or "MEDIUM").strip().upper(),
            )
            for row in csv.DictReader(handle)
        ]


def read_cross_script_pairs(path: Path) -> list[NamePair]:
    """watchman's `Query,Expected Match,Min Score,Description` lines (all positive pairs, persons)."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        query, expected, *_ = line.split(",")
        pairs.append(NamePair(EntitySchema.PERSON, query.strip(), expected.strip(), True, "watchman"))
    return pairs


def pipeline_scores(
    pairs: Sequence[NamePair], algorithm: Algorithm = DEFAULT_ALGORITHM, candidates: int = DEFAULT_CANDIDATES
) -> list[float]:
    """Score of each pair through retrieval + scoring (0.0 when retrieval misses the candidate)."""
    entities = {pair.candidate: _entity(i, pair) for i, pair in enumerate(pairs)}
    index = ScreeningIndex.build([make_snapshot("bench", None, "", entities.values(), "name-pairs")])
    scores = []
    for pair in pairs:
        result = index.screen(
            PartyQuery(pair.query, pair.schema),
            threshold=0.0,
            cutoff=0.0,
            limit=candidates,
            algorithm=algorithm,
            candidates=candidates,
        )
        wanted = f"bench:{entities[pair.candidate].list_id}"
        scores.append(next((c.score for c in result.candidates if c.entity_ref == wanted), 0.0))
    return scores


def direct_scores(pairs: Sequence[NamePair], algorithm: Algorithm = LOGIC_V2) -> list[float]:
    """The scorer alone on each pair, no retrieval: the ceiling the pipeline is compared with."""
    scores = []
    for i, pair in enumerate(pairs):
        # A fresh id per call: nomenklatura memoises name analysis by entity id.
        candidate = entity_proxy(_entity(i, pair), f"direct-{next(_direct_ids)}")
        score, _ = algorithm.score(query_proxy(PartyQuery(pair.query, pair.schema)), candidate)
        scores.append(score)
    return scores


def quality(pairs: Sequence[NamePair], scores: Sequence[float], threshold: float) -> Quality:
    tp = fp = fn = tn = 0
    for pair, score in zip(pairs, scores, strict=True):
        flagged = score >= threshold
        tp += flagged and pair.is_match
        fp += flagged and not pair.is_match
        fn += (not flagged) and pair.is_match
        tn += (not flagged) and not pair.is_match
    return Quality(threshold, tp, fp, fn, tn)


def sweep(pairs: Sequence[NamePair], scores: Sequence[float], thresholds: Iterable[float]) -> list[Quality]:
    return [quality(pairs, scores, threshold) for threshold in thresholds]


SCORE_GRID = tuple(t / 100 for t in range(30, 100))
"""The thresholds on the screening score's scale the reported best recall is looked for at."""


def best_recall(
    pairs: Sequence[NamePair], scores: Sequence[float], precision: float, thresholds: Iterable[float]
) -> float:
    """The highest recall among ``thresholds`` whose precision is at least ``precision`` (0 if none)."""
    found = (q.recall for q in sweep(pairs, scores, thresholds) if q.precision >= precision)
    return max(found, default=0.0)


STRENGTH_WALK = (
    ("STRONG", True),
    ("MEDIUM", True),
    ("WEAK", True),
    ("WEAK", False),
    ("MEDIUM", False),
    ("STRONG", False),
)
"""name_bench's calibration check: mean scores should fall along this order of (strength, is_match)."""


def mean_scores_by_strength(
    pairs: Sequence[NamePair], scores: Sequence[float]
) -> list[tuple[str, bool, float]]:
    """Mean score per (strength, is_match) in ``STRENGTH_WALK`` order, leaving out combinations with no pair."""
    means = []
    for strength, is_match in STRENGTH_WALK:
        chosen = [
            s for p, s in zip(pairs, scores, strict=True) if (p.strength, p.is_match) == (strength, is_match)
        ]
        if chosen:
            means.append((strength, is_match, sum(chosen) / len(chosen)))
    return means


def _entity(position: int, pair: NamePair) -> ListedEntity:
    return ListedEntity(
        list_id=f"c{position}",
        schema=pair.schema,
        names=(ListedName(pair.candidate, NameKind.PRIMARY),),
    )
