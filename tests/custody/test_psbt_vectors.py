"""Our PSBT entry point against the BIP174 vectors and Bitcoin Core's rpc_psbt.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corridor.custody.psbt import PsbtError, check_psbt_bytes, decode_psbt_text, parse_psbt


def bip174(shared_data: Path) -> dict[str, Any]:
    return json.loads((shared_data / "bips-test-vectors/bip174_psbt_vectors.parsed.json").read_text())


def core(shared_data: Path) -> dict[str, Any]:
    return json.loads((shared_data / "bitcoin-core-testdata/test/functional/data/rpc_psbt.json").read_text())


def test_bip174_valid_vectors_parse(shared_data: Path) -> None:
    valid = bip174(shared_data)["valid"]
    assert len(valid) == 14
    for case in valid:
        parsed = parse_psbt(case["base64"])
        assert parse_psbt(case["hex"]).serialize() == parsed.serialize(), case["description"]


def test_bip174_invalid_vectors_are_refused(shared_data: Path) -> None:
    invalid = bip174(shared_data)["invalid"]
    assert len(invalid) == 20
    for case in invalid:
        with pytest.raises(PsbtError):
            parse_psbt(case["base64"])
        with pytest.raises(PsbtError):
            parse_psbt(case["hex"])


def test_core_valid_vectors_parse(shared_data: Path) -> None:
    for text in core(shared_data)["valid"]:
        parse_psbt(text)


def test_core_invalid_vectors_are_refused(shared_data: Path) -> None:
    data = core(shared_data)
    for text in data["invalid"]:
        with pytest.raises(PsbtError):
            parse_psbt(text)


def test_core_invalid_vectors_fail_for_the_stated_reason(shared_data: Path) -> None:
    for text, message in core(shared_data)["invalid_with_msg"]:
        with pytest.raises(PsbtError) as caught:
            check_psbt_bytes(decode_psbt_text(text))
        assert _same_reason(str(caught.value), message), (message, str(caught.value))


def _same_reason(ours: str, core_message: str) -> bool:
    # Compare the leading words Core uses ("Output Taproot tree", "Input musig2 pubnonce", ...).
    words = core_message.split()[:3]
    return " ".join(words).lower() in ours.lower()


def test_core_combiner_finalizer_and_extractor_inputs_parse(shared_data: Path) -> None:
    data = core(shared_data)
    texts = [
        *data["combiner"][0]["combine"],
        data["finalizer"][0]["finalize"],
        data["extractor"][0]["extract"],
    ]
    for text in texts:
        parse_psbt(text)


def test_garbage_is_refused() -> None:
    for text in ["", "not base64!", "cHNidP8=", "70736274ff", b"psbt\xff\x00"]:
        with pytest.raises(PsbtError):
            parse_psbt(text)
