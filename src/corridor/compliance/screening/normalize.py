"""Name, identifier and address normalisation for screening.

Names get several Latin forms (rigour's common spelling plus the four Cyrillic romanisation systems in use
on passports and in sanctions lists) and, per token, a transliteration-insensitive skeleton and a
metaphone key. These keys only feed candidate retrieval; the final score is nomenklatura's.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from enum import StrEnum
from functools import lru_cache

from rigour.names import (
    Name,
    NameTypeTag,
    Span,
    Symbol,
    SymbolCategory,
    analyze_names,
    replace_org_types_compare,
    tokenize_name,
)
from rigour.text import metaphone
from rigour.text.translit import ascii_text, should_ascii

from corridor.compliance.screening.model import Identifier, IdScheme


class Romanisation(StrEnum):
    ICAO_9303 = "icao-9303"
    GOST_7_79_B = "gost-7.79-b"
    BGN_PCGN = "bgn-pcgn"
    ISO_9 = "iso-9"


_COMMON = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "з": "z", "и": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "ы": "y",
    "і": "i", "ґ": "g",
}  # fmt: skip

_SYSTEM_TABLES: dict[Romanisation, dict[str, str]] = {
    # ICAO Doc 9303 (7th ed.), used in Russian passports since 2013.
    Romanisation.ICAO_9303: {
        "ё": "e", "ж": "zh", "й": "i", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie",
        "ь": "", "э": "e", "ю": "iu", "я": "ia", "ї": "i", "є": "ie",
    },
    # GOST 7.79-2000 system B (ASCII-only variant).
    Romanisation.GOST_7_79_B: {
        "ё": "yo", "ж": "zh", "й": "j", "х": "x", "ц": "cz", "ч": "ch", "ш": "sh", "щ": "shh", "ъ": "",
        "ь": "", "э": "e", "ю": "yu", "я": "ya", "ы": "y", "ї": "yi", "є": "ye",
    },
    # BGN/PCGN 1947, the usual spelling in US and UK lists; е/ё become ye/yё at word start (handled below).
    Romanisation.BGN_PCGN: {
        "ё": "ë", "ж": "zh", "й": "y", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "",
        "ь": "", "э": "e", "ю": "yu", "я": "ya", "ї": "yi", "є": "ye",
    },
    # ISO 9:1995 (GOST 7.79 system A): one Latin letter per Cyrillic letter, with diacritics.
    Romanisation.ISO_9: {
        "ё": "ë", "ж": "ž", "й": "j", "х": "h", "ц": "c", "ч": "č", "ш": "š", "щ": "ŝ", "ъ": "ʺ",
        "ь": "ʹ", "э": "è", "ю": "û", "я": "â", "ї": "ï", "є": "ê",
    },
}  # fmt: skip

_BGN_IOTATED = {"е": "ye", "ё": "yë"}
_BGN_IOTATING_PREVIOUS = set("аеёиоуыэюяйъь ")

# Russian and Ukrainian legal forms that rigour leaves in their local abbreviation; mapped to the
# English abbreviation rigour produces for the spelled-out English form, so ООО == OOO == LLC.
_ORG_FORM_EQUIVALENTS = {
    "ooo": "llc", "tov": "llc", "ao": "jsc", "at": "jsc", "pao": "pjsc", "pat": "pjsc", "oao": "ojsc",
    "zao": "cjsc", "nao": "jsc", "too": "llp", "ip": "ie",
}  # fmt: skip


def transliterate(text: str, system: Romanisation) -> str:
    """Romanise Cyrillic letters in `text` with one system; other characters pass through, case kept."""
    table = _SYSTEM_TABLES[system]
    out: list[str] = []
    previous = " "
    for char in text:
        lower = char.lower()
        latin = _romanise_letter(lower, previous, table, system)
        if latin is None:
            out.append(char)
        else:
            out.append(latin.capitalize() if char != lower and latin else latin)
        previous = lower if lower.isalpha() else " "
    return "".join(out)


def _romanise_letter(lower: str, previous: str, table: dict[str, str], system: Romanisation) -> str | None:
    if system is Romanisation.BGN_PCGN and lower in _BGN_IOTATED and previous in _BGN_IOTATING_PREVIOUS:
        return _BGN_IOTATED[lower]
    if lower in table:
        return table[lower]
    return _COMMON.get(lower)


def has_cyrillic(text: str) -> bool:
    return any("\u0400" <= char <= "\u04ff" for char in text)


def detect_script(text: str) -> str | None:
    """The dominant Unicode script of the letters in `text` (LATIN, CYRILLIC, ARABIC, CJK, ...)."""
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda s: counts[s]) if counts else None


@lru_cache(maxsize=65536)
def latin_forms(name: str) -> frozenset[str]:
    """Casefolded ASCII forms of a name: rigour's common spelling plus each Cyrillic system's."""
    tokens = tokenize_name(name.casefold())
    forms = {" ".join(ascii_token(token) for token in tokens)}
    if has_cyrillic(name):
        for system in Romanisation:
            forms.add(" ".join(_romanised_token(token, system) for token in tokens))
    return frozenset(form for form in forms if form.strip())


@lru_cache(maxsize=131072)
def ascii_token(token: str) -> str:
    # rigour's transliteration is the costly step of indexing; tokens repeat far more than names do.
    if token.isascii():
        return token
    # Letters rigour cannot romanise come back as "?" (Arabic ain, all of Khmer): drop them, and keep a
    # token with nothing romanisable as it is written, so that names in that script still meet each other.
    return ascii_text(token).casefold().replace("?", "") or token


@lru_cache(maxsize=131072)
def _romanised_token(token: str, system: Romanisation) -> str:
    if not has_cyrillic(token):
        return ascii_token(token)
    return ascii_token(transliterate(token, system))


def romanised_variant(name: str) -> str | None:
    """The name romanised, when it is written in a script that rigour compares in its own letters
    (Arabic, Persian, Chinese, Ethiopic, Bengali, ...), or None.

    logic-v2 meets such a name and its Latin spelling only through the names rigour's tables know in both
    scripts; every other part counts as missing on both sides, as if the names were two different people
    (إياد نظمي صالح خليل / IYAD NAZMI SALIH KHALIL). Romanised, the parts can be aligned as spellings.
    Letters rigour cannot romanise are dropped; a name with none left gets no variant."""
    if name in _ROMANISED:
        return _ROMANISED[name]
    variant = None
    if not should_ascii(name) and any(char.isalpha() for char in name):
        tokens = [ascii_token(token) for token in tokenize_name(name.casefold())]
        variant = " ".join(t for t in tokens if t.isascii() and any(c.isalpha() for c in t)) or None
    if len(_ROMANISED) >= _ROMANISED_SIZE:
        _ROMANISED.clear()
        _VARIANTS.clear()
    _ROMANISED[name] = variant
    if variant is not None:
        _VARIANTS.add(variant)
    return variant


def remember_romanised(names: Iterable[str]) -> None:
    """Have ``is_romanised_variant`` know the romanised variants of `names`, as building a proxy of them
    would: the registry forgets every variant when it fills up, and the index makes its candidates'
    proxies from parts it prepared when it was built."""
    for name in names:
        romanised_variant(name)


def is_romanised_variant(text: str) -> bool:
    """Whether ``romanised_variant`` made this text. Two such variants are not compared with each other:
    names in one script compare better in it, and romanisation merges what the script tells apart
    (高石早苗 / 高市早苗 both read "gao shi zao miao")."""
    return text in _VARIANTS


_ROMANISED: dict[str, str | None] = {}
_VARIANTS: set[str] = set()
_ROMANISED_SIZE = 131072


def normalise_org_forms(text: str) -> str:
    """Replace legal-form words with one canonical abbreviation (ООО / OOO / LLC -> llc)."""
    replaced = replace_org_types_compare(text).casefold()
    return " ".join(_ORG_FORM_EQUIVALENTS.get(token, token) for token in replaced.split())


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> frozenset[str]:
    """Tokens of every Latin form of a name, with legal forms made canonical.

    Adjacent tokens are also joined, so "SiemensAG" / "VladimirPutin" meet "Siemens AG" / "Vladimir Putin"
    whichever side ran the words together.
    """
    tokens: set[str] = set()
    for form in latin_forms(name):
        parts = tokenize_name(normalise_org_forms(form))
        tokens.update(parts)
        tokens.update(first + second for first, second in itertools.pairwise(parts))
    return frozenset(tokens)


_SKELETON_DIGRAPHS = [
    ("shch", "s"), ("shh", "s"), ("sch", "s"), ("sh", "s"), ("zh", "z"), ("kh", "h"), ("cz", "c"),
    ("ts", "c"), ("tz", "c"), ("ph", "f"), ("ck", "k"), ("w", "v"), ("q", "k"),
    ("yu", "u"), ("iu", "u"), ("ju", "u"), ("ya", "a"), ("ia", "a"), ("ja", "a"),
    ("ye", "e"), ("ie", "e"), ("je", "e"), ("yo", "o"), ("jo", "o"), ("y", "i"), ("j", "i"),
]  # fmt: skip
_VOWELS_AFTER_FIRST = re.compile(r"(?<!^)[aeiou]")
_REPEATS = re.compile(r"(.)\1+")


@lru_cache(maxsize=131072)
def token_skeletons(token: str) -> frozenset[str]:
    """Transliteration-insensitive keys of one ASCII token.

    Romanisations disagree mostly on digraphs and iotated vowels (Zakharov / Zacharov / Zaxarov,
    Vyacheslav / Viacheslav / Vjaceslav), so those are folded, vowels after the first letter dropped and
    `h` removed. Ambiguous spellings (`ch` is ч in English but х in German and Czech; `x` is кс or GOST's
    х) yield one key per reading.
    """
    readings = {token.translate(_LEET) if _has_letters_and_digits(token) else token}
    if "ch" in token:
        readings |= {reading.replace("ch", "h") for reading in readings}
        readings = {reading.replace("ch", "c") for reading in readings}
    if "x" in token:
        readings = {reading.replace("x", "ks") for reading in readings} | {
            t.replace("x", "h") for t in readings
        }
    return frozenset(_fold(reading) for reading in readings)


_LEET = str.maketrans("013457", "oieast")


def _has_letters_and_digits(token: str) -> bool:
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _fold(token: str) -> str:
    for digraph, replacement in _SKELETON_DIGRAPHS:
        token = token.replace(digraph, replacement)
    token = _VOWELS_AFTER_FIRST.sub("", token)
    token = token.replace("h", "") or token
    return _REPEATS.sub(r"\1", token)


_PREFIX = 4


@lru_cache(maxsize=131072)
def token_keys(token: str) -> frozenset[str]:
    """Index keys of one token: the token, its skeletons and its metaphone code, each prefixed by kind."""
    keys = {f"t:{token}"}
    if token.isascii() and (token.isalpha() or _has_letters_and_digits(token)):
        skeletons = token_skeletons(token)
        keys.update(f"s:{skeleton}" for skeleton in skeletons)
        # Prefix of the skeleton: typos and inflected endings (Alexandros / Alexander, Lavrovs / Lavrov,
        # Jinping / Jinpin) keep it; a skeleton no longer than the prefix is its own prefix key.
        keys.update(f"p:{skeleton[:_PREFIX]}" for skeleton in skeletons if len(skeleton) >= _PREFIX)
        if len(token) > 2 and token.isalpha():
            keys.add(f"m:{metaphone(token)}")
    return frozenset(keys)


def name_keys(names: Iterable[str]) -> dict[str, frozenset[str]]:
    """Per token of all Latin forms of `names`: its index keys."""
    return {token: token_keys(token) for name in names for token in name_tokens(name)}


_RETRIEVAL_SYMBOLS = frozenset(
    {SymbolCategory.NAME, SymbolCategory.NICK, SymbolCategory.DOMAIN, SymbolCategory.SYMBOL}
)
"""Symbols that link spellings no string key links: a given or family name in any script (Wikidata's
name items: 贝拉克 / Barack, ប៉ុល / Pol), a nickname (Bill / William), an organisation's acronym or its
terms in other languages (PLA / People's Liberation Army, Banco / Bank). Legal forms, places, numbers and
initials are left out: they are shared by thousands of listed names and identify none."""
SYMBOL_TAGS = frozenset({NameTypeTag.PER, NameTypeTag.ORG, NameTypeTag.ENT})
"""The kinds of name rigour tags with symbols (not vessels and other objects)."""


def symbol_key(symbol: Symbol) -> str:
    return f"y:{symbol.category.value}:{symbol.id}"


def symbol_keys(names: Iterable[str], tag: NameTypeTag) -> dict[str, frozenset[str]]:
    """Per name part where a rigour symbol begins (its ASCII form, as ``name_keys`` spells tokens): the
    retrieval keys of those symbols. Empty for vessels and other objects, which rigour does not tag."""
    found: dict[str, set[str]] = {}
    for part, symbol in _symbols(names, tag):
        found.setdefault(ascii_token(part), set()).add(symbol_key(symbol))
    return {part: frozenset(keys) for part, keys in found.items()}


def listed_symbol_keys(names: Iterable[str], tag: NameTypeTag) -> frozenset[str]:
    """The symbol keys of a listed entity's names in Latin script.

    A name in another script needs none: its romanisation is indexed by ``name_keys`` already, and the
    names rigour links across scripts (贝拉克 / Barack) meet through the Latin name lists carry beside it.
    Leaving them out halves the cost of tagging a list: romanising a name is most of rigour's analysis.
    """
    return frozenset(symbol_key(symbol) for _, symbol in _symbols(filter(is_latin, names), tag))


def analysed_symbol_keys(names: Iterable[Name]) -> frozenset[str]:
    """``listed_symbol_keys`` of names rigour has analysed already (the index analyses every listed name
    for the matcher, and reads its retrieval keys from the same analysis)."""
    return frozenset(symbol_key(span.symbol) for span in _retrieval_spans(names))


def _retrieval_spans(names: Iterable[Name]) -> Iterator[Span]:
    """The spans of retrieval symbols in analysed names of a kind rigour tags."""
    for name in names:
        if name.tag in SYMBOL_TAGS:
            yield from (span for span in name.spans if span.symbol.category in _RETRIEVAL_SYMBOLS)


def _symbols(names: Iterable[str], tag: NameTypeTag) -> Iterable[tuple[str, Symbol]]:
    """(first part, symbol) of each retrieval symbol rigour finds in the names, in one analysis.

    rigour's tagger is loaded once per process (about 5 s): whichever comes first pays it, building an
    index or logic-v2 comparing the first names (nomenklatura analyses names with the same tagger)."""
    names = list(names)
    if tag not in SYMBOL_TAGS or not names:
        return
    analysed = analyze_names(tag, names, phonetics=False, numerics=False, consolidate=False)
    for span in _retrieval_spans(analysed):
        yield span.parts[0].comparable, span.symbol


_LATIN_END = "\u0250"
"""Basic Latin to Latin Extended-B: the letters of Western and Central European, Turkish, Vietnamese
and romanised names."""


def is_latin(name: str) -> bool:
    """Every letter of the name is Latin (punctuation such as a typographic apostrophe is no script)."""
    return all(char < _LATIN_END for char in name if char.isalpha())


def retrieval_keys(names: Iterable[str], tag: NameTypeTag) -> dict[str, frozenset[str]]:
    """A query's ``name_keys`` with each token's symbol keys added (a part that is no token of ours,
    such as a name in a script rigour cannot romanise, gets an entry of its own)."""
    names = list(names)
    keys = name_keys(names)
    for part, symbols in symbol_keys(names, tag).items():
        keys[part] = keys.get(part, frozenset()) | symbols
    return keys


# Numbers written out ----------------------------------------------------------------------------------

_UNITS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_CARDINALS = {word: value for value, word in enumerate(_UNITS)} | _TENS
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
}
_NUMBER_WORDS = frozenset(_CARDINALS) | frozenset(_ORDINALS)
_WORDS = re.compile(r"[A-Za-z]+|\d+|[^A-Za-z\d]+")  # fmt: skip


def _ordinal(value: int) -> str:
    suffix = "th" if 10 <= value % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")
    return f"{value}{suffix}"


@lru_cache(maxsize=65536)
def numeric_variant(name: str) -> str | None:
    """The name with English number words as digits ("Brigade Forty-Four" -> "Brigade 44", "First
    International Bank" -> "1st International Bank"), or None when it has none.

    Lists and queries write the same number both ways, and no name comparison equates a word with digits.
    """
    if not _NUMBER_WORDS.intersection(word.casefold() for word in re.findall(r"[A-Za-z]+", name)):
        return None
    pieces = _WORDS.findall(name)
    out: list[str] = []
    i = 0
    while i < len(pieces):
        word = pieces[i].casefold()
        if word in _ORDINALS:
            out.append(_ordinal(_ORDINALS[word]))
        elif word in _TENS and i + 2 < len(pieces) and pieces[i + 1].strip() in ("", "-"):
            unit = pieces[i + 2].casefold()
            value = _CARDINALS.get(unit) if unit in _UNITS[1:10] else (int(unit) if unit.isdigit() else None)
            if value is not None and 0 < value < 10:
                out.append(str(_TENS[word] + value))
                i += 3
                continue
            out.append(str(_TENS[word]))
        elif word in _CARDINALS:
            out.append(str(_CARDINALS[word]))
        else:
            out.append(pieces[i])
        i += 1
    return "".join(out)


# Identifiers ------------------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_ASSET_ALIASES = {"XBT": "BTC", "BITCOIN": "BTC", "ETHEREUM": "ETH", "USDT": "USDT", "TETHER": "USDT"}
_BECH32_PREFIXES = ("bc1", "tb1", "bcrt1", "ltc1", "tltc1")
_EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def normalise_asset(asset: str) -> str:
    """Asset ticker as screening compares it; OFAC writes bitcoin as XBT."""
    cleaned = asset.strip().upper()
    return _ASSET_ALIASES.get(cleaned, cleaned)


def normalise_address(address: str) -> str:
    """Bech32 is case-insensitive (lower-cased); EVM hex is case-insensitive; base58 is compared as is."""
    cleaned = address.strip()
    lowered = cleaned.lower()
    if lowered.startswith(_BECH32_PREFIXES) and (cleaned == lowered or cleaned == cleaned.upper()):
        return lowered
    if _EVM_ADDRESS.match(cleaned):
        return lowered
    return cleaned


def normalise_identifier_value(scheme: IdScheme, value: str) -> str:
    if scheme is IdScheme.CRYPTO:
        return normalise_address(value)
    if scheme in (IdScheme.INN, IdScheme.OGRN):
        return re.sub(r"\D", "", value)
    compact = _NON_ALNUM.sub("", value).upper()
    if scheme is IdScheme.BIC and len(compact) == 11 and compact.endswith("XXX"):
        # BIC11 with branch code XXX is the primary office: the same institution as its BIC8.
        return compact[:8]
    return compact


# Russian tax ids are INNs (10 digits for companies, 12 for persons); registration numbers of 13 or 15
# digits are OGRN / OGRNIP. Lists label them generically; naming them lets them meet INN/OGRN elsewhere.
_RU_INN_LENGTHS = (10, 12)
_RU_OGRN_LENGTHS = (13, 15)
_RUSSIA = {"russia", "ru", "russian federation"}


def refine_russian_scheme(scheme: IdScheme, value: str, country: str | None) -> IdScheme:
    digits = re.sub(r"\D", "", value)
    if (country or "").strip().casefold() not in _RUSSIA or len(digits) != len(value.strip()):
        return scheme
    if scheme is IdScheme.TAX_ID and len(digits) in _RU_INN_LENGTHS:
        return IdScheme.INN
    if scheme is IdScheme.REGISTRATION and len(digits) in _RU_OGRN_LENGTHS:
        return IdScheme.OGRN
    return scheme


def make_identifier(
    scheme: IdScheme, value: str, asset: str | None = None, country: str | None = None
) -> Identifier | None:
    """A normalised identifier, or None when nothing identifying is left after normalisation."""
    normalised = normalise_identifier_value(scheme, value)
    if len(normalised) < 4:
        return None
    return Identifier(
        scheme=scheme,
        value=normalised,
        asset=normalise_asset(asset) if asset else None,
        country=country,
        raw=value.strip(),
    )
