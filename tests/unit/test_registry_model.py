from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.registry.canonical import NotCanonical, canonical_json, canonical_text, format_time
from corridor.registry.model import (
    GENESIS_HASH,
    Entry,
    check_link,
    entry_bytes,
    entry_bytes_from_dict,
    entry_hash,
)

json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.integers(min_value=1, max_value=10**9),
    st.text(max_size=30),
    st.text(max_size=30),
    st.text(max_size=30),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)
def test_assembled_entry_bytes_equal_the_canonical_encoding(
    seq: int, actor: str, kind: str, subject: str, payload: dict[str, object]
) -> None:
    time = format_time(datetime(2026, 11, 21, tzinfo=UTC))
    assembled = entry_bytes(seq, time, actor, kind, subject, canonical_text(payload), GENESIS_HASH)
    full = entry_bytes_from_dict(
        {
            "seq": seq,
            "time": time,
            "actor": actor,
            "kind": kind,
            "subject": subject,
            "payload": payload,
            "prev_hash": GENESIS_HASH,
        }
    )
    assert assembled == full


def test_canonical_json_sorts_keys_and_has_no_spaces() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()


def test_floats_are_refused_but_decimals_become_exact_strings() -> None:
    with pytest.raises(NotCanonical):
        canonical_json({"amount": 0.1})
    assert canonical_json({"rate": Decimal("92.4512")}) == b'{"rate":"92.4512"}'


def test_times_are_normalised_to_utc_and_naive_times_refused() -> None:
    moscow = timezone(timedelta(hours=3))
    assert format_time(datetime(2026, 1, 1, 3, 0, tzinfo=moscow)) == "2026-01-01T00:00:00.000000Z"
    with pytest.raises(NotCanonical):
        format_time(datetime(2026, 1, 1))


def _entry(seq: int, prev: str, payload: str = '{"x":1}') -> Entry:
    time = "2026-11-21T00:00:00.000000Z"
    digest = entry_hash(Entry(seq, time, "a", "k", "s", payload, prev, ""))
    return Entry(seq, time, "a", "k", "s", payload, prev, digest)


def test_check_link_names_each_broken_rule() -> None:
    first = _entry(1, GENESIS_HASH)
    assert check_link(first, 1, GENESIS_HASH) is None
    assert check_link(first, 2, GENESIS_HASH).reason.startswith("entry seq 2 is out of order")  # type: ignore[union-attr]
    assert "prev_hash" in check_link(_entry(1, "f" * 64), 1, GENESIS_HASH).reason  # type: ignore[union-attr]
    altered = Entry(1, first.time, "a", "k", "s", '{"x":2}', GENESIS_HASH, first.hash)
    fault = check_link(altered, 1, GENESIS_HASH)
    assert fault is not None and fault.seq == 1 and "content" in fault.reason
