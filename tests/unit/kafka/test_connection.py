from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.kafka import ConnectionSettings


def test_properties_file_round_trips_in_librdkafka_names(tmp_path: Path) -> None:
    settings = ConnectionSettings("127.0.0.1:9092", username="admin", password="s3cret-_x")
    path = tmp_path / "admin.properties"
    path.write_text(settings.properties_text())
    assert path.read_text().splitlines() == [
        "bootstrap.servers=127.0.0.1:9092",
        "security.protocol=SASL_PLAINTEXT",
        "sasl.mechanism=SCRAM-SHA-512",
        "sasl.username=admin",
        "sasl.password=s3cret-_x",
    ]
    assert ConnectionSettings.from_properties_file(path) == settings


def test_kafka_python_settings_carry_the_same_credentials() -> None:
    settings = ConnectionSettings("a:1,b:2", username="u", password="p")
    conf = settings.kafka_python()
    assert conf["bootstrap_servers"] == ["a:1", "b:2"]
    assert (conf["sasl_mechanism"], conf["sasl_plain_username"], conf["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "u", "p",
    )  # fmt: skip


def test_java_client_properties_carry_a_scram_jaas_line() -> None:
    conf = ConnectionSettings("h:1", username="u", password="p").java_client()
    assert conf["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="u" password="p";'
    )
    assert conf["security.protocol"] == "SASL_PLAINTEXT"


def test_java_properties_escape_what_jaas_and_properties_files_would_misread() -> None:
    settings = ConnectionSettings("h:1", username="u", password=' a"b\\c')
    assert settings.java_client()["sasl.jaas.config"].endswith('password=" a\\"b\\\\c";')
    # Properties.load reads "\\\\" as one backslash: every backslash is doubled once more.
    lines = settings.java_properties_text().splitlines()
    assert lines[-1] == (
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="u" password=" a\\\\"b\\\\\\\\c";'
    )
    assert lines[0] == "bootstrap.servers=h:1"


def test_a_client_certificate_connection_carries_no_sasl(tmp_path: Path) -> None:
    cert, key = tmp_path / "app.pem", tmp_path / "app.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n")
    mtls = ConnectionSettings(
        bootstrap_servers="127.0.0.1:9192",
        security_protocol="SSL",
        sasl_mechanism=None,
        ssl_ca="/pki/ca.pem",
        ssl_certificate=str(cert),
        ssl_key=str(key),
    )
    conf = mtls.librdkafka()
    assert conf["security.protocol"] == "SSL"
    assert conf["ssl.certificate.location"] == str(cert)
    assert not any(k.startswith("sasl.") for k in conf)
    java = mtls.java_client()
    assert java["ssl.truststore.location"] == "/pki/ca.pem"
    assert "BEGIN PRIVATE KEY" in java["ssl.keystore.key"]
    assert "sasl.jaas.config" not in java
    # What apply writes is what the SDK reads back.
    path = tmp_path / "app.properties"
    path.write_text(mtls.properties_text())
    assert ConnectionSettings.from_properties_file(path) == mtls


def test_an_oauth_connection_fetches_its_own_tokens(tmp_path: Path) -> None:
    oauth = ConnectionSettings(
        bootstrap_servers="127.0.0.1:9092",
        sasl_mechanism="OAUTHBEARER",
        oauth_token_url="http://127.0.0.1:8085/token",
        oauth_client_id="risk.scorer",
        oauth_client_secret="s3cret",
    )
    conf = oauth.librdkafka()
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.secret"] == "s3cret"
    assert "sasl.username" not in conf
    java = oauth.java_client()
    assert java["sasl.login.callback.handler.class"].endswith("OAuthBearerLoginCallbackHandler")
    assert 'clientSecret="s3cret"' in java["sasl.jaas.config"]
    path = tmp_path / "app.properties"
    path.write_text(oauth.properties_text())
    assert ConnectionSettings.from_properties_file(path) == oauth
    with pytest.raises(ValueError, match="OAUTHBEARER"):
        oauth.kafka_python()
