"""A learned name comparator on top of logic-v2's name alignment (``logic-v2+names``).

logic-v2 aligns the parts of two names (symbols such as known given names and legal forms, literal and
fuzzy matches, parts left over on either side) and sums the alignment into one score with fixed weights.
That sum cannot tell a typo ("Tim Cock" / "Tim Cook": one fuzzy part rejected) from a different person
("… Hasan al-Mosuli" / "… Hasan al-Tikriti": one part unmatched on each side), so its score is the same
for both and no threshold separates them. Here the alignment is described by a few counts and string
similarities (``pair_features``) and a logistic regression, trained on pairs drawn from the sanctions
lists themselves (see ``training``), turns them into the name score. Identifiers, dates, countries and
every other logic-v2 feature are kept as they are.

The model is stored as plain JSON (``data/name_model.json``) and evaluated here without scikit-learn.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar

from followthemoney import EntityProxy, model
from followthemoney.names import schema_type_tag
from followthemoney.proxy import E
from nomenklatura.matching import LogicV2
from nomenklatura.matching.logic_v2.names.analysis import (
    entity_names,
    entity_names_consolidated,
    names_product,
)
from nomenklatura.matching.logic_v2.names.match import match_name_symbolic, match_object_names
from nomenklatura.matching.logic_v2.names.util import (
    explain_alignment,
    numbers_mismatch,
    part_tags_compatible,
)
from nomenklatura.matching.types import Feature, FtResult, ScoringConfig
from nomenklatura.matching.util import FNUL
from rigour.names import (
    Alignment,
    CompareConfig,
    Name,
    NamePart,
    NamePartTag,
    NameTypeTag,
    Symbol,
    SymbolCategory,
)
from rigour.text import jaro_winkler, levenshtein, soundex

from corridor.compliance.screening.normalize import ascii_token, is_romanised_variant, token_skeletons

MODEL_PATH = Path(__file__).parent / "data" / "name_model.json"

FEATURES = (
    "logic_v2",
    "jaro_query",
    "jaro_result",
    "soundex",
    "symbol_parts",
    "literal_parts",
    "fuzzy_parts",
    "extra_query_parts",
    "extra_result_parts",
    "rejected_fuzzy_parts",
    "min_fuzzy_levenshtein",
    "min_fuzzy_jaro",
    "mean_fuzzy_levenshtein",
    "substituted_parts",
    "extra_char_share",
    "query_parts",
    "result_parts",
    "unmatched_family_parts",
    "numbers_mismatch",
    "levenshtein",
    "sorted_levenshtein",
    "is_person",
    "conflicting_names",
    "initials_matched",
    "explained_query",
    "explained_result",
    "order_inversions",
    "patronymic_swaps",
    "extra_locations",
    "distinctive_matches",
    "extra_patronymics",
)


def _ratio(left: str, right: str) -> float:
    longest = max(len(left), len(right))
    return 1.0 - levenshtein(left, right) / longest if longest else 1.0


def _jaro_cover(tokens: Sequence[str], others: Sequence[str]) -> float:
    """Mean over ``tokens`` of the best Jaro-Winkler similarity to any of ``others`` (0 below 0.5)."""
    if not tokens or not others:
        return 0.0
    total = 0.0
    for token in tokens:
        best = max(jaro_winkler(token, other) for other in others)
        total += best if best > 0.5 else 0.0
    return total / len(tokens)


def _soundex_overlap(tokens: Sequence[str], others: Sequence[str]) -> float:
    mine = {soundex(t) or t.upper() for t in tokens}
    theirs = {soundex(t) or t.upper() for t in others}
    if not mine or not theirs:
        return 0.0
    return len(mine & theirs) / min(len(mine), len(theirs))


def _initials_met(extras: Sequence[str], others: Sequence[str]) -> int:
    """Unaligned single letters of one side (``extras``) that begin a longer part of the other side
    (N. / Nursultan, J / Joachim): logic-v2 leaves most of them unaligned, so an initial reads like a
    different name part."""
    starts = {t[0] for t in others if len(t) > 1}
    return sum(1 for t in extras if len(t) == 1 and t.isalpha() and t in starts)


def _initial_of(left: str, right: str) -> bool:
    """One side an initial of the other (J / Joachim), which logic-v2 aligns as a failed fuzzy match; not
    a Roman numeral (Partners V / Partners VI)."""
    short, long = sorted((left, right), key=len)
    return len(short) == 1 and len(long) > 1 and long.startswith(short) and not ROMAN.fullmatch(long)


def _explained(tokens: Sequence[str], others: Sequence[str], accepted: set[str]) -> float:
    """Share of ``tokens`` that logic-v2 aligned and accepted (a known name or term in any script, a
    literal or a close spelling, the halves of a name written as one word) or whose
    transliteration skeleton some part of ``others`` has too (Wolodymyr / Volodymyr, Qaddafi / Gaddafi,
    Zakharov / Sacharow): spelling systems disagree on digraphs and vowels, which string distances count
    as errors, and a name in another script has no letters in common at all."""
    mine = [t for t in tokens if len(t) > 1]
    if not mine:
        return 0.0
    theirs: set[str] = set()
    for token in others:
        theirs |= _skeletons(token)
    return sum(1 for t in mine if t in accepted or _skeletons(t) & theirs) / len(mine)


def _skeletons(token: str) -> frozenset[str]:
    folded = ascii_token(token)
    return token_skeletons(folded) if folded.isalpha() and folded.isascii() else frozenset({folded})


PATRONYMIC_BEFORE = frozenset({"bin", "ibn", "bint", "binti", "ben", "ould"})
"""Words that put a father's name after them (Arabic, Hebrew, Hassaniya): Salman *bin* Muhammad."""
PATRONYMIC_AFTER = frozenset({"ogly", "oglu", "ogli", "oghli", "uly", "uulu", "kyzy", "kizi", "qizi", "gyzy"})
"""Words that put a father's name before them (Turkic): Heydar *oglu*, Ali *kyzy*."""
ROMAN = re.compile(r"[ivxlc]+")
"""Lower-case Roman numerals (and words made of their letters: only used where a number may stand)."""
_CONNECTORS = PATRONYMIC_BEFORE | PATRONYMIC_AFTER
_SLAVIC_PATRONYMIC = re.compile(r"(ovich|evich|ovych|evych|ich|ovna|evna|ivna|ichna|vich)$")


def generations(tokens: Sequence[str]) -> tuple[int, int] | None:
    """Positions of the person's own name and the father's name around the first patronymic connector
    (Salman *bin* Muhammad -> 0, 2; Ilham Heydar *oglu* -> 0, 1), or None without one."""
    for i, token in enumerate(tokens):
        if token in PATRONYMIC_BEFORE and 0 < i < len(tokens) - 1:
            return i - 1, i + 1
        if token in PATRONYMIC_AFTER and i >= 2:
            return i - 2, i - 1
    return None


def patronymic_swaps(
    query: tuple[int, int] | None, result: tuple[int, int] | None, aligned: Sequence[tuple[int, int]]
) -> int:
    """How many of the own name and the father's name the two names exchange (Salman bin Muhammad /
    Muhammad bin Salman: 2, father and son rather than one person). Symmetric in the two names."""
    if query is None or result is None:
        return 0
    (q_own, q_father), (r_own, r_father) = query, result
    pairs = set(aligned)
    return int((q_own, r_father) in pairs) + int((q_father, r_own) in pairs)


def order_inversions(aligned: Sequence[tuple[int, int]]) -> float:
    """Share of pairs of aligned parts that the two names put in opposite order (0 when both read in one
    order, 1 when one is the other reversed). Symmetric in the two names."""
    pairs = discordant = 0
    for (q1, r1), (q2, r2) in itertools.combinations(aligned, 2):
        if q1 == q2 or r1 == r2:
            continue
        pairs += 1
        discordant += (q1 < q2) != (r1 < r2)
    return discordant / pairs if pairs else 0.0


def is_patronymic(token: str) -> bool:
    """An East Slavic patronymic by its suffix (Vladimirovich, Viktorovna, Oleksandrovych); lists give
    them and counterparties often leave them out."""
    return len(token) > 6 and token.isalpha() and _SLAVIC_PATRONYMIC.search(token) is not None


@dataclass(frozen=True, slots=True)
class _NameFacts:
    """What the features read from one analysed name's symbols, computed once per name."""

    categories: dict[int, frozenset[str]]
    """Per part index: the symbol categories rigour found for it alone or within a phrase."""
    known: dict[str, frozenset[str]]
    """Per part: the given or family names (rigour's name symbols) it is a known spelling of."""
    numbers: frozenset[str]
    """The numbers in the name, in digits or (as rigour reads them) in words and Roman numerals."""
    generations: tuple[int, int] | None


@lru_cache(maxsize=65536)
def _facts(name: Name, tag: NameTypeTag) -> _NameFacts:
    """Cached per name and type: a query name meets a dozen candidates, a listed name many queries, and
    walking rigour's symbol spans costs more than the rest of the features. Names compare by their form,
    so ``tag`` keeps a person's and an organisation's analysis of one text apart. Initials (which only
    query names get) are left out, so a name's facts do not depend on its side."""
    categories: dict[int, set[str]] = {}
    known: dict[str, set[str]] = {}
    numbers = {str(p.integer) for p in name.parts if p.integer is not None}
    for span in name.spans:
        category = span.symbol.category
        if category == SymbolCategory.INITIAL:
            continue
        if category == SymbolCategory.NAME and len(span.parts) == 1:
            known.setdefault(span.parts[0].comparable, set()).add(str(span.symbol))
        elif category == SymbolCategory.NUMERIC:
            numbers.add(span.symbol.id)
        key = _category_key(span.symbol)
        for part in span.parts:
            categories.setdefault(part.index, set()).add(key)
    return _NameFacts(
        {index: frozenset(found) for index, found in categories.items()},
        {part: frozenset(found) for part, found in known.items()},
        frozenset(numbers),
        generations([p.comparable for p in name.parts]),
    )


def _category_key(symbol: Symbol) -> str:
    # "global" / "international" are location symbols for the whole world (LOC:zz): no place at all.
    if symbol.category == SymbolCategory.LOCATION and symbol.id == "zz":
        return "GENERIC"
    return symbol.category.value


_GENERIC_CATEGORIES = frozenset({"ORGCLS", "SYMBOL", "DOMAIN", "LOC", "NUM", "GENERIC"})


def _conflicting(
    match: Alignment, query_known: dict[str, frozenset[str]], result_known: dict[str, frozenset[str]]
) -> bool:
    """Two parts fuzzily aligned that are each a known, *different* name (Sancho / Sánchez), not a typo."""
    mine = set().union(*(query_known.get(p.comparable, set()) for p in match.qps))
    theirs = set().union(*(result_known.get(p.comparable, set()) for p in match.rps))
    return bool(mine) and bool(theirs) and not mine & theirs


def pair_features(query: Name, result: Name, score: float, alignments: Sequence[Alignment]) -> list[float]:
    """Describe logic-v2's alignment of two names (``score`` is its sum) as the model's inputs."""
    symbols = literals = fuzzy = extra_q = extra_r = rejected = family = conflicting = distinctive = 0
    query_facts, result_facts = _facts(query, query.tag), _facts(result, result.tag)
    query_known, result_known = query_facts.known, result_facts.known
    query_categories, result_categories = query_facts.categories, result_facts.categories
    extra_chars = 0
    ratios: list[float] = []
    jaros: list[float] = []
    # Per aligned pair, the positions of its first parts (rigour numbers a name's parts in order), and
    # whether it is a patronymic connector (bin / ibn), which says nothing about the order of names.
    aligned: list[tuple[int, int]] = []
    connector: list[bool] = []
    accepted: set[str] = set()
    initials = 0
    query_extras: list[str] = []
    result_extras: list[str] = []
    extra_locations = extra_patronymics = 0
    for match in alignments:
        if not match.qps or not match.rps:
            parts, categories = (
                (match.rps, result_categories) if not match.qps else (match.qps, query_categories)
            )
            extra_q += not match.rps
            extra_r += not match.qps
            (query_extras if match.qps else result_extras).extend(p.comparable for p in parts)
            extra_chars += len(match.rstr if not match.qps else match.qstr)
            family += any(p.tag == NamePartTag.FAMILY for p in parts)
            extra_locations += any("LOC" in categories.get(p.index, ()) for p in parts)
            extra_patronymics += any(is_patronymic(p.comparable) for p in parts)
            continue
        aligned.append((match.qps[0].index, match.rps[0].index))
        connector.append(match.qps[0].comparable in _CONNECTORS)
        if match.score > 0.0:
            accepted.update(p.comparable for p in (*match.qps, *match.rps))
        if match.symbol is not None:
            symbols += 1
            distinctive += match.symbol.category in (SymbolCategory.NAME, SymbolCategory.NICK)
        elif match.qstr == match.rstr:
            literals += 1
            distinctive += not _generic(match.qps, query_categories)
        else:
            fuzzy += 1
            initials += _initial_of(match.qstr, match.rstr)
            rejected += match.score == 0.0
            distinctive += match.score > 0.0 and not _generic(match.qps, query_categories)
            conflicting += _conflicting(match, query_known, result_known)
            ratios.append(_ratio(match.qstr, match.rstr))
            jaros.append(jaro_winkler(match.qstr, match.rstr))
    q_tokens = [p.comparable for p in query.parts]
    r_tokens = [p.comparable for p in result.parts]
    both = len(query.comparable) + len(result.comparable)
    initials += _initials_met(query_extras, r_tokens) + _initials_met(result_extras, q_tokens)
    return [
        score,
        _jaro_cover(q_tokens, r_tokens),
        _jaro_cover(r_tokens, q_tokens),
        _soundex_overlap(q_tokens, r_tokens),
        symbols,
        literals,
        fuzzy,
        extra_q,
        extra_r,
        rejected,
        min(ratios, default=1.0),
        min(jaros, default=1.0),
        sum(ratios) / len(ratios) if ratios else 1.0,
        min(extra_q, extra_r),
        extra_chars / both if both else 0.0,
        len(query.parts),
        len(result.parts),
        family,
        float(_numbers_differ(query, result, query_facts, result_facts)),
        _ratio(query.comparable, result.comparable),
        _ratio(" ".join(sorted(q_tokens)), " ".join(sorted(r_tokens))),
        float(NameTypeTag.PER in (query.tag, result.tag)),
        conflicting,
        initials,
        _explained(q_tokens, r_tokens, accepted),
        _explained(r_tokens, q_tokens, accepted),
        order_inversions([pair for pair, skip in zip(aligned, connector, strict=True) if not skip]),
        patronymic_swaps(query_facts.generations, result_facts.generations, aligned),
        extra_locations,
        distinctive,
        extra_patronymics,
    ]


def _generic(parts: Sequence[NamePart], categories: dict[int, frozenset[str]]) -> bool:
    """Parts that are only a legal form, a common term, a place or a number: "Management Company" shares
    them with thousands of listed names without being any of them."""
    return all(
        p.tag in (NamePartTag.STOP, NamePartTag.LEGAL)
        or (categories.get(p.index) and categories[p.index] <= _GENERIC_CATEGORIES)
        for p in parts
    )


def _numbers_differ(query: Name, result: Name, query_facts: _NameFacts, result_facts: _NameFacts) -> bool:
    """Digits differ (nomenklatura's test), or, outside person names, the numbers rigour reads in words
    and Roman numerals (Solutions II / Solutions, Fund III / Fund IV, First / 1st)."""
    if numbers_mismatch(query.comparable, result.comparable) or numbers_mismatch(
        result.comparable, query.comparable
    ):
        return True
    if NameTypeTag.PER in (query.tag, result.tag):
        return False
    return query_facts.numbers != result_facts.numbers


@dataclass(frozen=True, slots=True)
class NameModel:
    """Logistic regression over standardised features: ``z = (x - mean) / scale``, logit ``bias + w . z``.

    Linear on purpose: each feature's share of a decision (``w_i * z_i``) can be shown to the officer
    reviewing a hit and to the regulator, which a tree ensemble cannot offer as plainly.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    """The probability at which a pair counts as the same name (chosen on held-out training pairs)."""
    meta: dict[str, Any]

    def contributions(self, x: Sequence[float]) -> list[float]:
        return [w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True)]

    def probability(self, x: Sequence[float]) -> float:
        logit = self.bias + sum(self.contributions(x))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))

    def explain(self, x: Sequence[float], top: int = 3) -> str:
        shares = sorted(zip(self.contributions(x), self.features, x, strict=True), key=lambda c: -abs(c[0]))
        return ", ".join(f"{name}={value:g} ({share:+.2f})" for share, name, value in shares[:top])

    def as_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "threshold": self.threshold,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NameModel:
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the stored name model was trained on other features; retrain it")
        return cls(
            tuple(data["features"]),
            tuple(float(v) for v in data["mean"]),
            tuple(float(v) for v in data["scale"]),
            tuple(float(v) for v in data["weights"]),
            float(data["bias"]),
            float(data["threshold"]),
            dict(data.get("meta", {})),
        )


@cache
def stored_model() -> NameModel:
    return NameModel.from_json(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


@cache
def model_version() -> str:
    """Which stored model scored a screening (first 12 hex digits of its file's SHA-256)."""
    return hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()[:12]


def calibrate(probability: float, threshold: float, anchor: float) -> float:
    """Map the model's probability onto logic-v2's scale so that ``threshold`` lands on ``anchor``.

    Piecewise linear and monotone: 0 -> 0, threshold -> anchor, 1 -> 1. The rest of the system (the
    alert threshold, the review cutoff, qualifiers that subtract 0.1-0.25 for a different country or
    birth date) keeps its meaning.
    """
    if probability <= threshold:
        return anchor * probability / threshold if threshold > 0 else anchor
    return anchor + (1.0 - anchor) * (probability - threshold) / (1.0 - threshold)


SCORE_ANCHOR = 0.70
"""logic-v2's (and yente's) default threshold: where the model's chosen probability is placed."""


def name_pairs(
    query: E, result: E, config: ScoringConfig
) -> Iterator[tuple[Name, Name, FtResult, list[Alignment]]]:
    """logic-v2's aligned name pairs, as ``name_match`` walks them; an empty alignment list marks a literal
    match (equal comparable forms), which is final."""
    # Called exactly as entity_names_consolidated calls it: lru_cache keys on the argument spelling, and
    # a second analysis of the candidate's names would cost as much as the whole comparison.
    query_names = entity_names(query, prop=None, is_query=True)
    by_comparable: dict[str, list[Name]] = {}
    for name in _candidate_names(result, consolidated=False):
        by_comparable.setdefault(name.comparable, []).append(name)
    for name in sorted(query_names, key=lambda n: len(n.comparable), reverse=True):
        for other in by_comparable.get(name.comparable, ()):
            if part_tags_compatible(name, other) and not _both_romanised(name, other):
                yield name, other, FtResult(score=1.0, query=name.original, candidate=other.original), []
                return
    compare_config = CompareConfig(budget_tolerance=config.get_float("nm_fuzzy_cutoff_factor"))
    weights = (
        config.get_float("nm_extra_query_name"),
        config.get_float("nm_extra_result_name"),
        config.get_float("nm_family_name_weight"),
    )
    for name, other in names_product(
        entity_names_consolidated(query, is_query=True), _candidate_names(result, consolidated=True)
    ):
        if _both_romanised(name, other):
            continue
        found, alignments = match_name_symbolic(name, other, compare_config, *weights)
        yield name, other, found, alignments


class AnalysedCandidate(EntityProxy):
    """A candidate whose names were analysed beforehand, exactly as ``entity_names`` analyses a candidate's:
    the screening index analyses every listed name once, when it is built, where nomenklatura's memo
    (the last thousand entities) would analyse a candidate again on most meetings."""

    __slots__ = ("analysed", "consolidated")
    analysed: set[Name]
    consolidated: set[Name] | None
    """Left None for ``_candidate_names`` to fill: a literal match needs none."""


def _candidate_names(result: E, consolidated: bool) -> set[Name]:
    """What ``entity_names`` (or ``entity_names_consolidated``) gives for the candidate."""
    if not isinstance(result, AnalysedCandidate):
        if consolidated:
            return entity_names_consolidated(result)
        return entity_names(result, prop=None, is_query=False)
    if not consolidated:
        return result.analysed
    if result.consolidated is None:
        result.consolidated = Name.consolidate_names(result.analysed)
    return result.consolidated


def _both_romanised(name: Name, other: Name) -> bool:
    return is_romanised_variant(name.original) and is_romanised_variant(other.original)


def name_model_match(query: E, result: E, config: ScoringConfig) -> FtResult:
    """The name score of ``logic-v2+names``: the best name pair's model score on logic-v2's scale."""
    schema = model.common_schema(query.schema, result.schema)
    tag = schema_type_tag(schema)
    if tag == NameTypeTag.UNK:
        return FtResult(score=FNUL, detail=None)
    if tag == NameTypeTag.OBJ:
        return match_object_names(query, result, config)
    fitted = stored_model()
    best: tuple[float, FtResult, list[Alignment], list[float]] | None = None
    for name, other, found, alignments in name_pairs(query, result, config):
        if not alignments:
            if found.score >= 1.0:
                best = (1.0, found, [], [])
                break
            continue
        x = pair_features(name, other, found.score, alignments)
        probability = fitted.probability(x)
        if best is None or probability > best[0]:
            best = (probability, found, alignments, x)
    if best is None:
        return FtResult(score=FNUL, detail="No name match found.")
    probability, found, alignments, x = best
    if not alignments:
        return FtResult(score=1.0, detail="literal match", query=found.query, candidate=found.candidate)
    score = calibrate(probability, fitted.threshold, SCORE_ANCHOR)
    # Explained the way logic-v2 explains itself, so an officer sees which parts met which, and why the
    # model moved the score.
    evidence = " ".join(explain_alignment(a) for a in alignments)
    detail = (
        f"model {probability:.3f} (same-name threshold {fitted.threshold:.3f}); logic-v2 {found.score:.3f}; "
        f"{fitted.explain(x)}; {evidence}"
    )
    return FtResult(score=score, detail=detail, query=found.query, candidate=found.candidate)


class LogicV2Names(LogicV2):
    """logic-v2 with its name feature replaced by the learned comparator; every other feature unchanged."""

    NAME = "logic-v2+names"
    features: ClassVar[list[Feature]] = [
        Feature(func=name_model_match, weight=1.0) if f.name == "name_match" else f for f in LogicV2.features
    ]
