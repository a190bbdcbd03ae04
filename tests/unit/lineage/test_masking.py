"""The masks of a masked twin, and the spec checks of a ``masked_twin`` declaration."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from streamplane.errors import SpecError
from streamplane.lineage.masking import REDACTED, TOKEN_PREFIX, Masker, MaskingError
from streamplane.model import load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
MASKS = {"name": "redact", "email": "tokenize", "card": "last4", "phone": "hash"}
RECORD = {
    "id": "c1", "name": "Ada Lovelace", "email": "ada@example.com",
    "card": "4111 1111 1111 1234", "phone": "+44 20 7946 0958",
}  # fmt: skip


def test_each_mask_hides_its_field_and_leaves_the_others() -> None:
    masker = Masker(MASKS, b"salt")
    masked, vault = masker.mask(RECORD, "c1")
    assert masked["id"] == "c1"
    assert masked["name"] == REDACTED
    assert masked["card"] == "************1234"
    assert masked["email"].startswith(TOKEN_PREFIX) and "ada" not in masked["email"]
    assert len(masked["phone"]) == 64 and "7946" not in masked["phone"]
    assert [(v.token, v.field, v.subject, v.value) for v in vault] == [
        (masked["email"], "email", "c1", "ada@example.com")
    ]
    assert RECORD["name"] == "Ada Lovelace", "the input record is left as it was"


def test_masks_are_deterministic_under_one_salt_and_differ_under_another() -> None:
    first, _ = Masker(MASKS, b"salt").mask(RECORD, "c1")
    again, _ = Masker(MASKS, b"salt").mask(dict(RECORD), "c1")
    other, _ = Masker(MASKS, b"pepper").mask(RECORD, "c1")
    assert first == again, "a batch re-read after an abort masks to the same bytes"
    assert other["phone"] != first["phone"] and other["email"] != first["email"]
    # A hash and a token of the same value never coincide (different HMAC purposes).
    both = Masker({"a": "hash", "b": "tokenize"}, b"salt").mask({"a": "x", "b": "x"}, "s")[0]
    assert both["a"] != both["b"].removeprefix(TOKEN_PREFIX)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"email": None}, "field email (tokenize) is missing"),
        ({"name": ""}, "field name (redact) is missing"),
        ({"card": "12-3"}, "is not a card number"),
        ({"card": "4111 abcd 1111 1234"}, "is not a card number"),
        ({"phone": 12}, "is int, not text"),
    ],
)
def test_a_missing_or_malformed_field_is_refused_never_passed_on(
    change: dict[str, object], reason: str
) -> None:
    with pytest.raises(MaskingError, match=re.escape(reason)):
        Masker(MASKS, b"salt").mask({**RECORD, **change}, "c1")


def _copy_with(tmp_path: Path, masks: str, schema_change: tuple[str, str] | None = None) -> Path:
    copy = tmp_path / "platform"
    shutil.copytree(EXAMPLE, copy)
    tenant = copy / "tenants" / "payments.yaml"
    text = tenant.read_text()
    tenant.write_text(
        text.replace("masks: {CARD: last4, CONTACT: tokenize, PII: hash}", f"masks: {masks}")
    )
    if schema_change is not None:
        schema = copy / "schemas" / "card-holder.avsc"
        schema.write_text(schema.read_text().replace(*schema_change))
    return copy


def test_a_mask_for_a_tag_no_field_carries_is_located(tmp_path: Path) -> None:
    root = _copy_with(tmp_path, "{CARD: last4, SSN: redact}")
    with pytest.raises(SpecError) as info:
        load_spec(root)
    [issue] = info.value.issues
    assert issue.message.startswith("no field of schemas/card-holder.avsc carries tag SSN")
    assert issue.file.endswith("payments.yaml")
    lines = (root / "tenants" / "payments.yaml").read_text().splitlines()
    assert "masks:" in lines[issue.line - 1]


def test_a_masked_field_must_be_text(tmp_path: Path) -> None:
    card = '{"name": "card_number", "type": "string"'
    root = _copy_with(tmp_path, "{CARD: last4}", (card, '{"name": "card_number", "type": "long"'))
    with pytest.raises(SpecError) as info:
        load_spec(root)
    assert any(
        'field card_number (last4) is "long"' in i.message and i.hint and "string" in i.hint
        for i in info.value.issues
    ), [i.message for i in info.value.issues]


def test_the_twin_and_the_masker_are_derived_with_least_privilege() -> None:
    spec = load_spec(EXAMPLE)
    twin = spec.topics["payments.card.holders-masked.v1"].topic
    assert twin.visibility.value == "public" and twin.classification.value == "internal"
    assert twin.value_schema is not None and twin.value_schema.rules is None, "no encryption"
    masker = spec.applications["holders-masker"].app
    assert masker.consumes == ["payments.card.holders"] and masker.transactional
    assert masker.produces == ["payments.card.holders-masked.v1", "payments.card.holders-vault"]
    vault = spec.topics["payments.card.holders-vault"].topic
    assert vault.classification.value == "pii" and vault.cleanup_policy == "compact"
    assert vault.value_schema is not None and vault.value_schema.rules is not None
    [rule] = vault.value_schema.rules.domain
    assert (rule.type, rule.params["encrypt.subject.field"]) == ("ENCRYPT_PER_SUBJECT", "subject")
    assert json.loads(Path(vault.value_schema.file).read_text())["name"] == "VaultEntry"
