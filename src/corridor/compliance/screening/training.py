"""Training of the name comparator (``names.py``) on pairs drawn from the sanctions lists themselves.

Offline only (``python -m corridor.compliance.screening.training``); it needs scikit-learn, which
nomenklatura already depends on. No pair and no name of the evaluation set (nomenklatura's name_bench
``cases.csv``) is used: every name that occurs there is removed before pairs are drawn, so the figures
measured on cases.csv are out-of-sample.

Pairs, per listed entity (persons and organisations of OFAC, UN, EU and the OpenSanctions fixtures):

- same name (label 1): two of the entity's own names that share a token in some romanisation (spelling
  and script variants, reordered and shortened forms); a name with one or two random keystroke errors in
  one part; a name with a middle part dropped; a person's given name cut to its initial;
- different name (label 0): the name with one part replaced by a part of another listed name of the same
  kind (a relative, a sister company); a person's own and father's names exchanged around "bin" / "ibn"
  (the father or the son); an organisation's series number moved on (Fund II / Fund III); the listed names of *other* entities of the same list that
  candidate retrieval puts first for it (what screening actually has to tell apart); a random other
  entity's name.

The comparator judges names, not entities, so two label filters apply (``_label_noise``): two names of one
entity that logic-v2 cannot align at all ("AQI" / "Islamic State") are not taught as the same name, and
two entities that share practically the same name are not taught as different names (dates of birth,
countries and identifiers tell those apart, and they stay logic-v2's own features).

The random edits are a generic model of typing and transcription noise, not of any benchmark pair.
"""

from __future__ import annotations

import itertools
import json
import random
import string
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corridor.compliance.screening.evaluation import read_name_bench
from corridor.compliance.screening.index import ScreeningIndex
from corridor.compliance.screening.matcher import entity_proxy, query_proxy
from corridor.compliance.screening.model import (
    EntitySchema,
    ListedEntity,
    ListedName,
    ListSnapshot,
    NameKind,
    PartyQuery,
)
from corridor.compliance.screening.names import (
    FEATURES,
    MODEL_PATH,
    PATRONYMIC_BEFORE,
    NameModel,
    name_pairs,
    pair_features,
)
from corridor.compliance.screening.normalize import name_tokens
from corridor.compliance.screening.sources import load_list
from corridor.compliance.screening.sources.ofac_csv import OfacCsvFiles, load_ofac_csv

CASES = "opensanctions-nomenklatura-name-bench/contrib/name_bench/cases.csv"
_KINDS = (EntitySchema.PERSON, EntitySchema.COMPANY, EntitySchema.ORGANIZATION, EntitySchema.LEGAL_ENTITY)
_SEED = 20261122
_ids = itertools.count()


@dataclass(frozen=True, slots=True)
class TrainingPair:
    schema: EntitySchema
    query: str
    candidate: str
    label: bool
    kind: str
    group: str
    """The entity the pair was drawn from (train/validation splits keep an entity's pairs together)."""


def reference_snapshots(data: Path) -> list[ListSnapshot]:
    """The lists in shared data the benchmark also screens against."""
    watchman = data / "watchman-sanctions-testdata/pkg/sources/ofac/testdata"
    ofac = OfacCsvFiles(
        data / "ofac-sdn-csv-jackdwyer/sdn_2024-05-03.csv",
        alt=watchman / "alt.csv",
        add=watchman / "add.csv",
        comments=watchman / "sdn_comments.csv",
    )
    yente = data / "opensanctions-yente-fixtures/tests/fixtures/dataset"
    loaded = [
        load_ofac_csv(ofac),
        load_list(data / "un-consolidated-older-perchrh/un_consolidated.xml", "un"),
        load_list(data / "eu-consolidated-ammitto-derived/eu_fsf_entities.ammitto.jsonl.gz", "eu-jsonl"),
        load_list(yente / "zala/entities.ftm.json", "ftm"),
    ]
    return [snapshot for snapshot in loaded if isinstance(snapshot, ListSnapshot)]


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def evaluation_names(data: Path) -> set[str]:
    names: set[str] = set()
    for pair in read_name_bench(data / CASES):
        names.update((_key(pair.query), _key(pair.candidate)))
    return names


def _usable(name: str, excluded: set[str]) -> bool:
    return 3 <= len(name) <= 120 and _key(name) not in excluded


def _typo(name: str, rng: random.Random) -> str | None:
    tokens = name.split()
    long = [i for i, t in enumerate(tokens) if len(t) >= 4 and t.isalpha()]
    if not long:
        return None
    i = rng.choice(long)
    token = tokens[i]
    for _ in range(1 if len(token) < 9 else rng.choice((1, 2))):
        token = _edit(token, rng)
    tokens[i] = token
    out = " ".join(tokens)
    return out if out != name else None


def _edit(token: str, rng: random.Random) -> str:
    pos = rng.randrange(1, len(token))  # the first letter is the one people get right
    letter = rng.choice(string.ascii_lowercase)
    letter = letter.upper() if token.isupper() else letter
    kind = rng.choice(("substitute", "delete", "insert", "transpose", "double"))
    if kind == "substitute":
        return token[:pos] + letter + token[pos + 1 :]
    if kind == "delete":
        return token[:pos] + token[pos + 1 :]
    if kind == "insert":
        return token[:pos] + letter + token[pos:]
    if kind == "transpose" and pos < len(token) - 1:
        return token[:pos] + token[pos + 1] + token[pos] + token[pos + 2 :]
    return token[:pos] + token[pos] + token[pos:]


def _shortened(name: str, schema: EntitySchema, rng: random.Random) -> str | None:
    tokens = name.split()
    if schema is EntitySchema.PERSON and len(tokens) >= 3:
        drop = rng.randrange(1, len(tokens) - 1)
        return " ".join(tokens[:drop] + tokens[drop + 1 :])
    if schema is EntitySchema.PERSON and len(tokens) == 2 and tokens[0].isalpha() and len(tokens[0]) > 2:
        return f"{tokens[0][0]}. {tokens[1]}"
    return None


def _substituted(name: str, pool: Sequence[str], rng: random.Random) -> str | None:
    from rigour.text import jaro_winkler

    tokens = name.split()
    if len(tokens) < 2:
        return None
    i = len(tokens) - 1 if rng.random() < 0.5 else rng.randrange(len(tokens))
    for _ in range(10):
        other = rng.choice(pool)
        if jaro_winkler(other.casefold(), tokens[i].casefold()) < 0.8:
            tokens[i] = other.upper() if tokens[i].isupper() else other
            return " ".join(tokens)
    return None


def _latin(name: str) -> bool:
    return all(c.isascii() or not c.isalpha() for c in name)


def draw_pairs(
    snapshots: Sequence[ListSnapshot], excluded: set[str], per_entity: int = 1, seed: int = _SEED
) -> list[TrainingPair]:
    rng = random.Random(seed)
    entities = [
        (snapshot, entity)
        for snapshot in snapshots
        for entity in snapshot.entities.values()
        if entity.schema in _KINDS
    ]
    pools: dict[EntitySchema, list[str]] = {}
    for _, entity in entities:
        for listed in entity.names:
            if _latin(listed.value):
                pools.setdefault(entity.schema, []).extend(t for t in listed.value.split() if len(t) >= 3)
    pairs: list[TrainingPair] = []
    indexes = {s.source: ScreeningIndex.build([s]) for s in snapshots}
    for snapshot, entity in entities:
        names = [n.value for n in entity.names if n.kind is not NameKind.WEAK and _usable(n.value, excluded)]
        if not names:
            continue
        group = f"{snapshot.source}:{entity.list_id}"
        for _ in range(per_entity):
            pairs.extend(_entity_pairs(entity, names, group, pools[entity.schema], rng))
        pairs.extend(_hard_negatives(indexes[snapshot.source], entity, names, group, excluded, rng))
    pairs.extend(_random_negatives(entities, excluded, len(entities) // 2, rng))
    return pairs


_NUMBERS = FEATURES.index("numbers_mismatch")
_EXTRA_LOCATIONS = FEATURES.index("extra_locations")


def _label_noise(pair: TrainingPair, features: list[float]) -> bool:
    """Pairs whose label says something about entities that the names alone cannot show (see above).

    Two listed entities whose names differ only by a number or a place (Fund II / Fund III, Bank / Bank
    Chile) are different entities by their names, so those stay taught as different names."""
    logic_v2 = features[0]
    if pair.kind == "alias" and logic_v2 < 0.3:
        return True
    told_apart = features[_NUMBERS] > 0 or features[_EXTRA_LOCATIONS] > 0
    return pair.kind == "retrieved" and logic_v2 >= 0.9 and not told_apart


def _entity_pairs(
    entity: ListedEntity, names: list[str], group: str, pool: list[str], rng: random.Random
) -> Iterable[TrainingPair]:
    schema = entity.schema
    latin = [n for n in names if _latin(n)] or names
    base = rng.choice(latin)
    if len(names) >= 2:
        first, second = rng.sample(names, 2)
        if _key(first) != _key(second) and name_tokens(first) & name_tokens(second):
            yield TrainingPair(schema, first, second, True, "alias", group)
    for kind, variant in (("typo", _typo(base, rng)), ("short", _shortened(base, schema, rng))):
        if variant is not None:
            yield TrainingPair(schema, variant, base, True, kind, group)
    substituted = _substituted(base, pool, rng)
    if substituted is not None:
        yield TrainingPair(schema, substituted, base, False, "substitution", group)
    swapped = _generation_swapped(base) if schema is EntitySchema.PERSON else _series_changed(base)
    if swapped is not None:
        kind = "generation" if schema is EntitySchema.PERSON else "series"
        yield TrainingPair(schema, swapped, base, False, kind, group)


_SERIES = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


def _series_changed(name: str) -> str | None:
    """An organisation's name with its number moved on by one (Investments II -> III, Trust 2004 ->
    2005): a sister fund, a later series or another vessel of a fleet, listed (or not) on its own."""
    tokens = name.split()
    for i, token in enumerate(tokens):
        if token.isdigit():
            tokens[i] = str(int(token) + 1)
            return " ".join(tokens)
        if i > 0 and token.upper() in _SERIES[1:-1]:
            following = _SERIES[_SERIES.index(token.upper()) + 1]
            tokens[i] = following if token.isupper() else following.lower()
            return " ".join(tokens)
    return None


def _generation_swapped(name: str) -> str | None:
    """The name with the person's own name and the father's exchanged around a patronymic connector
    (Ahmad bin Hasan -> Hasan bin Ahmad): the same words, and the father or the son of the listed person."""
    tokens = name.split()
    folded = [t.casefold() for t in tokens]
    for i in range(1, len(tokens) - 1):
        if folded[i] in PATRONYMIC_BEFORE and folded[i - 1] != folded[i + 1]:
            swapped = [*tokens[: i - 1], tokens[i + 1], tokens[i], tokens[i - 1], *tokens[i + 2 :]]
            return " ".join(swapped)
    return None


def _random_negatives(
    entities: Sequence[tuple[ListSnapshot, ListedEntity]], excluded: set[str], count: int, rng: random.Random
) -> Iterable[TrainingPair]:
    for _ in range(count):
        (_, first), (_, second) = rng.sample(entities, 2)
        if first.schema is not second.schema:
            continue
        left = [n.value for n in first.names if _usable(n.value, excluded)]
        right = [n.value for n in second.names if _usable(n.value, excluded)]
        if left and right:
            yield TrainingPair(
                first.schema, rng.choice(left), rng.choice(right), False, "random", first.list_id
            )


def _hard_negatives(
    index: ScreeningIndex,
    entity: ListedEntity,
    names: list[str],
    group: str,
    excluded: set[str],
    rng: random.Random,
) -> Iterable[TrainingPair]:
    query = rng.choice(names)
    own = f"{group}"
    for position in index.retrieve(PartyQuery(query, entity.schema), candidates=3):
        other = index.entry(position)
        if other.ref == own or other.entity.schema not in _KINDS:
            continue
        candidates = [n.value for n in other.entity.names if _usable(n.value, excluded)]
        if candidates:
            yield TrainingPair(entity.schema, query, rng.choice(candidates), False, "retrieved", group)
            return


LITERAL = [1.0]
"""``features_of`` for equal names: the comparator is not consulted, the score is 1."""
UNALIGNED = [0.0]
"""``features_of`` when logic-v2 aligns nothing at all: not consulted either, the score is 0."""


def features_of(pair: TrainingPair) -> list[float]:
    """The model's inputs for the best-aligned name pair, or LITERAL / UNALIGNED."""
    query = query_proxy(PartyQuery(pair.query, pair.schema))
    # A fresh id per call: nomenklatura memoises name analysis by entity id.
    candidate = entity_proxy(
        ListedEntity("t", pair.schema, (ListedName(pair.candidate),)), f"training-{next(_ids)}"
    )
    from nomenklatura.matching import LogicV2

    config = LogicV2.default_config()
    for key, var in LogicV2.CONFIG.items():
        config.config.setdefault(key, var.default)
    best = UNALIGNED
    for name, other, found, alignments in name_pairs(query, candidate, config):
        if not alignments:
            if found.score >= 1.0:
                return LITERAL
            continue
        features = pair_features(name, other, found.score, alignments)
        # nomenklatura hands the names over as a set: ties on logic-v2's score are broken on the whole
        # vector, so that the draw is the same whatever the hash seed.
        if best is UNALIGNED or features > best:
            best = features
    return best


def fit(pairs: Sequence[TrainingPair], seed: int = _SEED) -> NameModel:
    """Fit on 80% of the entities, choose the threshold on the other 20% (precision 0.95 there)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rows = [(p, features_of(p)) for p in pairs]
    kept = [(p, f) for p, f in rows if len(f) == len(FEATURES) and not _label_noise(p, f)]
    groups = sorted({p.group for p, _ in kept})
    held_out = set(random.Random(seed).sample(groups, len(groups) // 5))
    train = [(p, f) for p, f in kept if p.group not in held_out]
    valid = [(p, f) for p, f in kept if p.group in held_out]
    x_train = np.array([f for _, f in train])
    y_train = np.array([p.label for p, _ in train])
    mean = x_train.mean(axis=0)
    scale = np.where(x_train.std(axis=0) > 0, x_train.std(axis=0), 1.0)
    clf = LogisticRegression(C=1.0, max_iter=5000).fit((x_train - mean) / scale, y_train)
    fitted = NameModel(
        FEATURES,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in clf.coef_[0]),
        float(clf.intercept_[0]),
        1.0,
        {},
    )
    threshold = _threshold_for_precision(
        [fitted.probability(f) for _, f in valid], [p.label for p, _ in valid], 0.95
    )
    meta = {
        "trained_pairs": len(train),
        "validation_pairs": len(valid),
        "positives": int(y_train.sum()),
        "kinds": {k: sum(1 for p, _ in kept if p.kind == k) for k in sorted({p.kind for p, _ in kept})},
        "validation_precision_target": 0.95,
        "excluded_evaluation_names": True,
        "seed": seed,
    }
    return NameModel(fitted.features, fitted.mean, fitted.scale, fitted.weights, fitted.bias, threshold, meta)


def _threshold_for_precision(scores: list[float], labels: list[bool], precision: float) -> float:
    """The lowest score whose pairs at or above it are at least ``precision`` correct."""
    ranked = sorted(zip(scores, labels, strict=True), reverse=True)
    best = 1.0
    true = 0
    for seen, (score, label) in enumerate(ranked, start=1):
        true += label
        if true / seen >= precision:
            best = score
    return best


def main(data: Path) -> None:
    excluded = evaluation_names(data)
    pairs = draw_pairs(reference_snapshots(data), excluded)
    fitted = fit(pairs)
    MODEL_PATH.write_text(json.dumps(fitted.as_json(), indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"threshold": fitted.threshold, **fitted.meta}, indent=2))


if __name__ == "__main__":
    from corridor.testdata import shared_data_dir

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else shared_data_dir())
