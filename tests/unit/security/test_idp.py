"""The local OIDC issuer: tokens Kafka's validator accepts, and the refusals RFC 6749 asks."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from streamplane.security.idp import IdpHome, IdpSettings, create_app, mint_token

ISSUER = "http://127.0.0.1:8085"


@pytest.fixture
def home(tmp_path: Path) -> IdpHome:
    return IdpHome(tmp_path / "idp")


@pytest.fixture
def client(home: IdpHome) -> TestClient:
    return TestClient(create_app(home, IdpSettings(issuer=ISSUER, token_lifetime_s=120)))


def _token(client: TestClient, client_id: str, secret: str, *, basic: bool = True) -> str:
    form = {"grant_type": "client_credentials"}
    if basic:
        answer = client.post("/token", data=form, auth=(client_id, secret))
    else:
        answer = client.post(
            "/token", data={**form, "client_id": client_id, "client_secret": secret}
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 120
    return str(body["access_token"])


def _verify(client: TestClient, token: str) -> dict[str, object]:
    keys = jwt.PyJWKSet.from_dict(client.get("/jwks").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims: dict[str, object] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="kafka", issuer=ISSUER
    )
    return claims


def test_a_registered_client_gets_a_token_for_its_principal(
    home: IdpHome, client: TestClient
) -> None:
    secret = home.register_client("volume-aggregator")
    assert home.register_client("volume-aggregator") == secret  # re-apply keeps it
    for basic in (True, False):
        claims = _verify(client, _token(client, "volume-aggregator", secret, basic=basic))
        assert claims["sub"] == "volume-aggregator"
        assert 0 < int(claims["exp"]) - time.time() <= 120  # type: ignore[call-overload]
        assert "scope" not in claims  # Kafka refuses an empty scope claim
    discovery = client.get("/.well-known/openid-configuration").json()
    assert discovery["issuer"] == ISSUER and discovery["jwks_uri"] == f"{ISSUER}/jwks"
    assert discovery["token_endpoint"] == f"{ISSUER}/token"


def test_refusals_do_not_say_which_part_was_wrong(home: IdpHome, client: TestClient) -> None:
    secret = home.register_client("app")
    form = {"grant_type": "client_credentials"}
    wrong = client.post("/token", data=form, auth=("app", "nope"))
    unknown = client.post("/token", data=form, auth=("ghost", secret))
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_client",
            "error_description": "client authentication failed",
        }
    )
    grant = client.post("/token", data={"grant_type": "password"}, auth=("app", secret))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_a_disabled_client_gets_no_token_and_is_seen_without_a_restart(
    home: IdpHome, client: TestClient
) -> None:
    secret = home.register_client("app")
    _token(client, "app", secret)
    # Another process (apply) disables it: the running issuer reads the file again.
    assert IdpHome(home.root).disable_client("app") is True
    refused = client.post("/token", data={"grant_type": "client_credentials"}, auth=("app", secret))
    assert refused.status_code == 401
    IdpHome(home.root).register_client("app")
    _token(client, "app", secret)


def test_rotation_keeps_old_tokens_verifiable_until_they_expire(
    home: IdpHome, client: TestClient
) -> None:
    secret = home.register_client("app")
    before = _token(client, "app", secret)
    new_kid = home.rotate_keys()
    after = _token(client, "app", secret)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    assert jwt.get_unverified_header(before)["kid"] != new_kid
    assert _verify(client, before)["sub"] == _verify(client, after)["sub"] == "app"
    kids = {k["kid"] for k in client.get("/jwks").json()["keys"]}
    assert len(kids) == 2


def test_the_bad_tokens_tests_need_are_bad(home: IdpHome, client: TestClient) -> None:
    settings = IdpSettings(issuer=ISSUER)
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(client, mint_token(home, settings, sub="a", issued_at=time.time() - 600))
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(client, mint_token(home, settings, sub="a", audience="billing"))
    with pytest.raises(StopIteration):  # its kid is not in the JWKS
        _verify(client, mint_token(home, settings, sub="a", foreign_key=True))


def test_the_disable_command_stops_tokens_and_names_an_unknown_client(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streamplane.cli import app
    from streamplane.local import DataDir

    home = IdpHome(DataDir(tmp_path).idp)
    home.register_client("fraud-app", principal="fraud-app")
    runner = CliRunner()
    done = runner.invoke(app, ["idp", "disable", "fraud-app", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0 and "disabled fraud-app" in done.output
    assert home.clients()["fraud-app"].disabled
    again = runner.invoke(app, ["idp", "disable", "fraud-app", "--data-dir", str(tmp_path)])
    assert "already disabled" in again.output
    unknown = runner.invoke(app, ["idp", "disable", "nobody", "--data-dir", str(tmp_path)])
    assert "no client 'nobody'" in str(unknown.exception)
