"""The registry's payload encoding on the append path: the shortcut for flat payloads is canonical JSON."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.registry.canonical import NotCanonical, canonical_text
from corridor.registry.service import _payload_text

texts = st.text(max_size=12)
flat_values = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | texts
any_values = st.recursive(
    flat_values | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(texts, flat_values, max_size=8))
def test_flat_payloads_encode_exactly_as_canonical_json(payload: dict[str, object]) -> None:
    assert _payload_text(payload) == canonical_text(payload)


@given(st.dictionaries(texts, any_values, max_size=5))
def test_any_payload_encodes_exactly_as_canonical_json(payload: dict[str, object]) -> None:
    assert _payload_text(payload) == canonical_text(payload)


def test_floats_are_still_refused() -> None:
    with pytest.raises(NotCanonical):
        _payload_text({"amount": 1.5})
    assert _payload_text({"amount": Decimal("1.50")}) == '{"amount":"1.50"}'
