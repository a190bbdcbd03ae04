"""The access policy a spec implies, and the decisions made with it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamplane.errors import RegistryError
from streamplane.model import load_spec
from streamplane.registry import AccessPolicy, policy_from_spec
from streamplane.registry._access import AccessRules, Caller

SPEC = """\
clusters:
  - name: local
    local: true
  - name: eu
    bootstrap_servers: eu:9092
    auth: {username: admin, password: {env: EU_PASSWORD}}
tenants:
  - name: shop
    owners: [shop@example.com]
    clusters: [local]
    domains:
      - name: orders
        topics:
          - name: drafts
          - name: placed.v1
            visibility: public
        applications:
          - name: checkout
            produces: [shop.orders.drafts]
          - name: fulfilment
            principal: svc-fulfilment
            consumes: [shop.orders.placed.v1]
  - name: ledger
    prefix: "fin-"
    owners: [fin@example.com]
    clusters: [eu]
    domains:
      - name: books
        topics:
          - name: entries
          - name: posted.v1
            visibility: public
        applications:
          - name: poster
            produces: [fin-books.entries]
"""


@pytest.fixture
def policy(tmp_path: Path) -> AccessPolicy:
    (tmp_path / "platform.yaml").write_text(textwrap.dedent(SPEC))
    return policy_from_spec(load_spec(tmp_path))


def test_principals_map_to_their_tenant_prefix_and_public_topics_to_subject_prefixes(
    policy: AccessPolicy,
) -> None:
    assert policy.principals == {"checkout": "shop.", "poster": "fin-", "svc-fulfilment": "shop."}
    assert policy.public_prefixes == ["fin-books.posted.v1-", "shop.orders.placed.v1-"]


def test_a_cluster_keeps_only_its_own_tenants(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(textwrap.dedent(SPEC))
    local = policy_from_spec(load_spec(tmp_path), cluster="local")
    assert set(local.principals) == {"checkout", "svc-fulfilment"}
    assert local.public_prefixes == ["shop.orders.placed.v1-"]


def test_the_policy_is_plain_json_and_refuses_unknown_keys(policy: AccessPolicy) -> None:
    assert AccessPolicy.model_validate_json(policy.model_dump_json()) == policy
    with pytest.raises(ValueError, match="extra"):
        AccessPolicy.model_validate({"principals": {}, "publics": []})


def test_writes_stay_under_the_tenant_prefix(policy: AccessPolicy) -> None:
    rules = AccessRules(policy)
    checkout = Caller("checkout")
    assert rules.may_write(checkout, "shop.orders.drafts-value")
    assert rules.may_write(checkout, "shop.anything-key")
    assert not rules.may_write(checkout, "fin-books.entries-value")
    assert not rules.may_write(checkout, "shopping-value")  # a prefix, not a substring
    with pytest.raises(RegistryError) as refused:
        rules.require_write(checkout, "fin-books.entries-value")
    assert (refused.value.status, refused.value.error_code) == (403, 40301)
    assert "'shop.'" in refused.value.message


def test_reads_of_other_tenants_follow_visibility(policy: AccessPolicy) -> None:
    rules = AccessRules(policy)
    poster, stranger = Caller("poster"), Caller("someone-else")
    assert rules.may_read(poster, "fin-books.entries-value")
    assert rules.may_read(poster, "shop.orders.placed.v1-value")
    assert rules.may_read(poster, "shop.orders.placed.v1-shop.Order")  # TopicRecordNameStrategy
    assert not rules.may_read(poster, "shop.orders.drafts-value")
    assert not rules.may_read(poster, "shop.orders.placed.v10-value")
    assert rules.may_read(stranger, "fin-books.posted.v1-key")
    assert not rules.may_read(stranger, "fin-books.entries-value")
    assert not rules.may_write(stranger, "fin-books.posted.v1-key")


def test_super_users_may_do_everything(policy: AccessPolicy) -> None:
    rules = AccessRules(policy)
    admin = Caller("admin", super_user=True)
    assert rules.may_read(admin, "shop.orders.drafts-value")
    assert rules.may_write(admin, "anything-value")
    AccessRules.require_super_user(admin, "Write on the access policy")
    with pytest.raises(RegistryError, match="only super users"):
        AccessRules.require_super_user(Caller("checkout"), "Write on the access policy")


def test_without_a_policy_everyone_reads_and_only_super_users_write() -> None:
    rules = AccessRules(None)
    assert rules.may_read(Caller("checkout"), "shop.orders.drafts-value")
    assert not rules.may_write(Caller("checkout"), "shop.orders.drafts-value")
    assert rules.may_write(Caller("admin", super_user=True), "shop.orders.drafts-value")
    with pytest.raises(RegistryError, match="no access policy is loaded"):
        rules.require_write(Caller("checkout"), "shop.orders.drafts-value")
