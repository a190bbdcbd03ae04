"""Every kind of spec error is reported with file:line:column, a message and a hint, all at once."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from streamplane.errors import SpecError, SpecIssue
from streamplane.model import json_schema, load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"

HEAD = """\
clusters:
  - name: local
    local: true
tenants:
  - name: pay
    owners: [team@example.com]
    clusters: [local]
    domains:
      - name: card
"""


def errors_of(tmp_path: Path, text: str, *, name: str = "spec.yaml") -> list[SpecIssue]:
    (tmp_path / name).write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    # Loading applies nothing; only `apply` says so (it was going to change something).
    assert "nothing was applied" not in str(info.value)
    return info.value.issues


def only(issues: list[SpecIssue]) -> SpecIssue:
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


def test_example_spec_loads() -> None:
    spec = load_spec(EXAMPLE)
    assert len(spec.platform.tenants) == 3
    assert all(len(t.domains) >= 2 for t in spec.platform.tenants)
    assert len(spec.applications) >= 8
    assert any(t.topic.classification == "pii" for t in spec.topics.values())


def test_unknown_key_points_at_the_key_and_suggests_the_right_one(tmp_path: Path) -> None:
    issue = only(
        errors_of(
            tmp_path, HEAD + "        topics:\n          - name: a\n            partitons: 3\n"
        )
    )
    assert (issue.line, issue.column) == (12, 13)
    assert issue.message == 'unknown key "partitons"' and issue.hint == 'did you mean "partitions"?'
    assert issue.file.endswith("spec.yaml")


def test_wrong_type_names_the_field_and_the_value(tmp_path: Path) -> None:
    issue = only(
        errors_of(
            tmp_path, HEAD + "        topics:\n          - name: a\n            partitions: many\n"
        )
    )
    assert issue.line == 12 and "partitions" in issue.message and "'many'" in issue.message
    assert issue.hint == "write a whole number"


def test_duplicate_topic_says_where_the_first_one_is(tmp_path: Path) -> None:
    issue = only(
        errors_of(tmp_path, HEAD + "        topics:\n          - name: a\n          - name: a\n")
    )
    assert issue.message == 'duplicate topic "pay.card.a"' and issue.line == 12
    assert issue.hint is not None and "spec.yaml:11" in issue.hint


def test_duplicate_across_files_is_caught(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("clusters:\n  - name: local\n    local: true\n")
    issues = errors_of(tmp_path, "clusters:\n  - name: local\n    local: true\n", name="a.yaml")
    messages = {i.message for i in issues}
    assert 'duplicate cluster "local"' in messages
    assert any(i.file.endswith("b.yaml") for i in issues)


def test_dangling_references_are_errors(tmp_path: Path) -> None:
    text = HEAD.replace("clusters: [local]", "clusters: [local, nowhere]") + textwrap.indent(
        "topics:\n  - name: a\napplications:\n  - name: app\n    produces: [pay.card.b]\n", " " * 8
    )
    issues = errors_of(tmp_path, text)
    messages = {i.message: i for i in issues}
    assert messages['unknown cluster "nowhere"'].hint == "known clusters: local"
    assert (
        messages['application "app" produces unknown topic "pay.card.b"'].hint
        == 'did you mean "pay.card.a"?'
    )


def test_invalid_kafka_config_name_and_value(tmp_path: Path) -> None:
    text = (
        HEAD
        + "        topics:\n          - name: a\n            configs:\n              retention.msx: 1\n              segment.bytes: 1000\n"
    )
    issues = errors_of(tmp_path, text)
    by_line = {i.line: i for i in issues}
    assert by_line[13].message == 'unknown topic config "retention.msx"'
    assert by_line[13].hint == 'did you mean "retention.ms"?'
    assert "segment.bytes must be at least 1048576" in by_line[14].message


def test_name_breaking_the_convention(tmp_path: Path) -> None:
    text = (
        HEAD
        + "        topics:\n          - name: Card_Auth\n          - name: settled\n            visibility: public\n"
    )
    issues = errors_of(tmp_path, text)
    assert {i.message for i in issues} == {
        'topic name "Card_Auth" breaks the naming convention',
        'public event "pay.card.settled" is not versioned',
    }
    public = next(i for i in issues if "public" in i.message)
    assert public.hint is not None and '"settled.v1"' in public.hint


def test_bad_tenant_name_is_a_pattern_error(tmp_path: Path) -> None:
    issue = only(errors_of(tmp_path, HEAD.replace("name: pay", "name: Pay")))
    assert issue.line == 5 and "name" in issue.message
    assert issue.hint is not None and "lower-case" in issue.hint


def test_cross_domain_rules(tmp_path: Path) -> None:
    text = HEAD + (
        "        topics:\n"
        "          - name: private\n"
        "          - name: event.v1\n"
        "            visibility: public\n"
        "      - name: other\n"
        "        applications:\n"
        "          - name: reader\n"
        "            consumes: [pay.card.private, pay.card.event.v1]\n"
        "          - name: writer\n"
        "            produces: [pay.card.event.v1]\n"
        "            consumer_group: elsewhere\n"
    )
    messages = [i.message for i in errors_of(tmp_path, text)]
    assert (
        'application "reader" of pay.other cannot consume private topic "pay.card.private" '
        "of pay.card" in messages
    )
    assert (
        'application "writer" of pay.other cannot produce to "pay.card.event.v1", owned by '
        "pay.card" in messages
    )
    assert 'consumer group "elsewhere" is outside tenant namespace "pay."' in messages
    assert len(messages) == 3, messages  # consuming another domain's public event is fine


def test_secrets_need_exactly_one_source(tmp_path: Path) -> None:
    text = (
        HEAD
        + "        applications:\n          - name: app\n            password: {env: A, file: b}\n"
    )
    issue = only(errors_of(tmp_path, text))
    assert "exactly one of `env` or `file`" in issue.message and issue.line == 12


def test_shortcut_and_config_for_the_same_key_conflict(tmp_path: Path) -> None:
    text = (
        HEAD
        + "        topics:\n          - name: a\n            retention: 3d\n            configs: {retention.ms: 1000}\n"
    )
    issue = only(errors_of(tmp_path, text))
    assert issue.message == "retention.ms is set twice: by `retention` and in `configs`"


def test_not_yaml_is_reported_with_its_position(tmp_path: Path) -> None:
    issue = only(errors_of(tmp_path, "clusters: [\n  - a\n"))
    assert issue.message.startswith("not valid YAML")


def test_all_errors_are_reported_in_one_pass(tmp_path: Path) -> None:
    text = HEAD.replace("clusters: [local]", "clusters: [nowhere]") + (
        "        topics:\n          - name: a\n            partitions: many\n            colour: red\n"
        "          - name: a\n"
    )
    messages = [i.message for i in errors_of(tmp_path, text)]
    assert len(messages) == 4, messages


def test_json_schema_is_valid_json_describing_the_sections() -> None:
    schema = json.loads(json_schema())
    assert {"clusters", "tenants", "acl_exceptions", "quotas", "policy"} <= set(
        schema["properties"]
    )


def test_spec_files_merge_in_any_layout(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "p")
    (tmp_path / "p" / "tenants" / "nested").mkdir()
    (tmp_path / "p" / "tenants" / "risk.yaml").rename(
        tmp_path / "p" / "tenants" / "nested" / "risk.yml"
    )
    assert len(load_spec(tmp_path / "p").platform.tenants) == 3


def test_replication_beyond_the_cluster_and_missing_schema_files_are_errors(tmp_path: Path) -> None:
    text = (
        HEAD
        + "        topics:\n          - name: a\n            replication_factor: 3\n            value_schema: schemas/nope.avsc\n          - name: b\n            key_schema: b.txt\n"
    )
    (tmp_path / "b.txt").write_text("x")
    issues = {i.line: i for i in errors_of(tmp_path, text)}
    assert issues[12].message == "replication factor 3 is more than cluster local's 1 broker(s)"
    assert issues[13].message.startswith("schema file schemas/nope.avsc not found under")
    assert issues[15].message == "cannot tell the format of schema file b.txt"


def test_a_profile_may_be_tightened_but_not_broken(tmp_path: Path) -> None:
    text = HEAD + (
        "        applications:\n"
        "          - name: tight\n"
        "            profile:\n"
        "              name: zero_loss\n"
        "              producer: {max.in.flight.requests.per.connection: 1, linger.ms: 20}\n"
        "          - name: loose\n"
        "            profile:\n"
        "              name: zero_loss\n"
        "              producer:\n"
        "                linger.ms: 1\n"
        "                acks: 1\n"
        "              consumer: {enable.auto.commit: true}\n"
    )
    issues = errors_of(tmp_path, text)
    assert [(i.line, i.message) for i in issues] == [
        (20, 'application "loose": acks=1 breaks the zero_loss guarantee'),
        (21, 'application "loose": enable.auto.commit=True breaks the zero_loss guarantee'),
    ]
    assert issues[0].hint is not None and "use acks=all" in issues[0].hint


def test_a_profile_by_name_must_be_known(tmp_path: Path) -> None:
    text = HEAD + "        applications:\n          - name: app\n            profile: fastest\n"
    issue = only(errors_of(tmp_path, text))
    assert issue.line == 12 and "zero_loss" in issue.message + (issue.hint or "")
