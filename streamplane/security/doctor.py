"""Why an application cannot connect, or is denied: each check, its verdict and the fix.

A refused client sees one opaque line ("SASL authentication failed", "SSL handshake
failed", "Topic authorization failed"); the broker's reason is in its logs, and the grant
that would fix a denial is in the spec. ``streamplane doctor APP`` puts the three side by
side: the application's own client configuration (what ``apply`` wrote), its identity
checked where it is issued (the CA, the OIDC issuer, the broker's SCRAM credential), a real
connection with that configuration, and its live ACLs against those the spec grants,
naming the spec entry of anything missing.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin, scram_iterations
from streamplane.local._layout import OAUTH_AUDIENCE, DataDir, idp_url
from streamplane.model import ApplicationEntry, Spec
from streamplane.reconcile import AclEntry, application_acls, client_config_path
from streamplane.security.pki import Pki


@dataclass(frozen=True)
class Finding:
    """One check: ``ok`` or what is wrong and how to fix it."""

    check: str
    ok: bool
    detail: str
    fix: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def diagnose(
    spec: Spec, app: ApplicationEntry, data_dir: Path, admin: ConnectionSettings
) -> list[Finding]:
    """Every check for ``app`` on the local cluster in ``data_dir``, in the order a
    connection meets them; later checks still run after a failure (each says its own)."""
    findings: list[Finding] = []
    path = client_config_path(data_dir, app.principal)
    if not path.exists():
        findings.append(
            Finding(
                "client config",
                False,
                f"{path} does not exist: the application has no identity on this cluster",
                f"apply the spec: streamplane apply {spec.root} --data-dir {data_dir}",
            )
        )
        findings.extend(_grants(spec, app, admin))
        return findings
    settings = ConnectionSettings.from_properties_file(path)
    findings.append(Finding("client config", True, f"{path} ({app.app.auth})"))
    if settings.ssl_ca is not None:
        findings.append(_trust(Path(settings.ssl_ca), DataDir(data_dir)))
    if app.app.auth == "mtls":
        findings.append(_certificate(settings, DataDir(data_dir)))
    elif app.app.auth == "oauth":
        findings.extend(_token(settings, data_dir))
    else:
        findings.append(_password(app.principal, settings, admin))
    findings.append(_connect(settings))
    findings.extend(_grants(spec, app, admin))
    return findings


def _trust(ca: Path, home: DataDir) -> Finding:
    cluster_ca = home.pki / "ca.pem"
    if not ca.exists():
        return Finding("trusted CA", False, f"{ca} does not exist", "apply the spec again")
    if cluster_ca.exists() and ca.read_bytes() != cluster_ca.read_bytes():
        return Finding(
            "trusted CA",
            False,
            f"the client trusts {ca}, but the brokers' certificates come from {cluster_ca}",
            f"set ssl.ca.location={cluster_ca}",
        )
    return Finding("trusted CA", True, f"{ca} is the cluster's CA")


def _certificate(settings: ConnectionSettings, home: DataDir) -> Finding:
    if settings.ssl_certificate is None or not Path(settings.ssl_certificate).exists():
        return Finding(
            "certificate", False, "no client certificate configured", "apply the spec again"
        )
    problems = Pki(home.pki).check(Path(settings.ssl_certificate).read_bytes())
    if problems:
        return Finding(
            "certificate",
            False,
            "; ".join(problems),
            "issue a new one: streamplane pki issue NAME --force, then apply the spec",
        )
    return Finding("certificate", True, f"{settings.ssl_certificate} is valid for this CA")


def _token(settings: ConnectionSettings, data_dir: Path) -> list[Finding]:
    url = settings.oauth_token_url or ""
    try:
        answer = httpx.post(
            url,
            data={"grant_type": "client_credentials"},
            auth=(settings.oauth_client_id or "", settings.oauth_client_secret or ""),
            timeout=5,
        )
    except httpx.HTTPError as exc:
        return [
            Finding(
                "token",
                False,
                f"the token endpoint {url} did not answer ({exc})",
                "start the local platform: streamplane up",
            )
        ]
    if answer.status_code != 200:
        return [
            Finding(
                "token",
                False,
                f"{url} refused the client credentials ({answer.status_code}: {answer.text})",
                "the client is unknown, disabled or its secret is wrong: re-enable it in the "
                "spec and apply (the secret is rewritten to the client config)",
            )
        ]
    claims = _claims(str(answer.json().get("access_token", "")))
    state = DataDir(data_dir).read_state()
    issuer = idp_url(state.port_offset) if state else None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    problems = []
    if OAUTH_AUDIENCE not in audiences:
        problems.append(f"its audience is {audience!r}, the brokers require {OAUTH_AUDIENCE!r}")
    if issuer is not None and claims.get("iss") != issuer:
        problems.append(f"its issuer is {claims.get('iss')!r}, the brokers trust {issuer!r}")
    if float(claims.get("exp", 0)) <= time.time():
        problems.append("it is already expired (check the clocks)")
    if problems:
        return [
            Finding(
                "token", False, "; ".join(problems), "configure the issuer to match the brokers"
            )
        ]
    return [Finding("token", True, f"sub={claims.get('sub')}, aud={audience}, iss ok")]


def _claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified: only to explain it (the brokers verify it)."""
    try:
        body = token.split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _password(principal: str, settings: ConnectionSettings, admin: ConnectionSettings) -> Finding:
    try:
        users = ClusterAdmin(admin).scram_users()
    except KafkaException as exc:
        return Finding("password", False, f"could not read the SCRAM credentials: {exc}")
    if principal not in users:
        return Finding(
            "password",
            False,
            f"the cluster has no SCRAM credential for {principal}",
            "apply the spec (it creates the credential)",
        )
    if users[principal] != scram_iterations(principal, settings.password or ""):
        return Finding(
            "password",
            False,
            "the password in the client config is not the one the cluster holds",
            "apply the spec again: it sets the credential from the secret source",
        )
    return Finding("password", True, "matches the cluster's SCRAM credential")


def _connect(settings: ConnectionSettings) -> Finding:
    client = AdminClient(settings.librdkafka(**{"socket.timeout.ms": 5000}))
    try:
        metadata = client.list_topics(timeout=8)
    except KafkaException as exc:
        return Finding(
            "connect",
            False,
            f"{settings.bootstrap_servers} refused the connection: {exc.args[0].str()}",
            "fix the findings above",
        )
    return Finding("connect", True, f"authenticated; {len(metadata.topics)} topic(s) visible to it")


def _grants(spec: Spec, app: ApplicationEntry, admin: ConnectionSettings) -> list[Finding]:
    principal = f"User:{app.principal}"
    live = {AclEntry(**vars(a)) for a in ClusterAdmin(admin).describe_acls()}
    missing = [(acl, why) for acl, why in application_acls(app) if acl not in live]
    index = spec.source.locate(app.path)
    where = f"{index.file}:{index.line}"
    if not missing:
        mine = sum(1 for acl in live if acl.principal == principal)
        return [Finding("grants", True, f"all {mine} ACL(s) the spec grants are on the cluster")]
    return [
        Finding(
            "grants",
            False,
            f"missing {acl.operation} on {acl.resource_type.lower()} {acl.resource_name}, "
            f"granted by {why} ({where})",
            "apply the spec",
        )
        for acl, why in missing
    ]
