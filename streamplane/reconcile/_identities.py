"""Applications' identities on the local cluster: certificates, OAuth clients, client configs.

An application proves who it is in one of three ways (its ``auth``): a SCRAM password, a
client certificate from the cluster's CA (mTLS; the certificate's CN is the principal) or
OAuth 2 client credentials (the local issuer's token ``sub`` is the principal). For the
local cluster, ``apply`` makes the identity (issues the certificate, registers the OAuth
client) and writes each application a ready librdkafka configuration,
``<data dir>/clients/<principal>.properties`` (0600): what ``client-config`` prints, what
the SDK connects with, what ``doctor`` checks.

Cutting an identity off is the other half. A principal is *cut off* when its certificate
was revoked (``pki revoke``), its OAuth client disabled, or its application removed from
the spec after apply gave it a configuration. Kafka checks neither a CRL nor the issuer on
an open session, but it authorizes every request: apply removes a cut-off principal's ACLs
and SCRAM credential even without ``--allow-delete`` (access is not data), so its next
request is refused, on open connections too; ``connections.max.reauth.ms`` bounds how long
an open session stays authenticated at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamplane.errors import PlanError
from streamplane.kafka import ConnectionSettings
from streamplane.local._layout import ClusterState, DataDir, idp_url, write_secret_file
from streamplane.model import ApplicationEntry, Spec
from streamplane.reconcile._secrets import SecretStore
from streamplane.security.audit import Change
from streamplane.security.idp import IdpHome
from streamplane.security.pki import Pki


def _stores(home: DataDir) -> tuple[Pki, IdpHome]:
    return Pki(home.pki), IdpHome(home.idp)


#: The local issuer's token endpoint, under its URL.
TOKEN_PATH = "/token"
#: Why apply revoked a certificate itself: the application left the spec. Unlike an
#: operator's revocation, it does not outlive the application's return to the spec, which
#: gets a new certificate.
REMOVED = "its application was removed from the spec"


@dataclass
class IdentityReport:
    """What apply did to identities, for its summary line."""

    issued: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    cut_off: list[str] = field(default_factory=list)
    cut_off_why: dict[str, str] = field(default_factory=dict)
    #: Applications left without a configuration, each with the reason.
    skipped: dict[str, str] = field(default_factory=dict)

    def changes(self) -> list[Change]:
        """What was done to identities, as audit events."""
        return (
            [Change("issue", "certificate", p, None, "client certificate") for p in self.issued]
            + [Change("register", "oauth-client", p, None, "OAuth client") for p in self.registered]
            + [Change("cut off", "principal", p, None, why) for p, why in self.cut_off_why.items()]
        )

    def summary(self) -> str:
        parts = [
            f"{len(self.written)} client config(s) in {self.written[0].parent}"
            if self.written
            else "",
            f"issued certificates: {', '.join(self.issued)}" if self.issued else "",
            f"registered OAuth clients: {', '.join(self.registered)}" if self.registered else "",
            f"cut off: {', '.join(self.cut_off)}" if self.cut_off else "",
        ] + [f"{name}: {why}" for name, why in sorted(self.skipped.items())]
        return "; ".join(p for p in parts if p)


def client_config_path(data_dir: Path, principal: str) -> Path:
    return DataDir(data_dir).clients / f"{principal}.properties"


def cut_off_principals(spec: Spec, cluster: str, data_dir: Path) -> dict[str, str]:
    """principal -> why its access goes: revoked certificate, disabled client, removed app."""
    home = DataDir(data_dir)
    apps = {a.principal: a for a in spec.applications_on(cluster)}
    out: dict[str, str] = {}
    pki, idp = _stores(home)
    revoked = pki.revoked() if home.pki.exists() else {}
    clients = idp.clients() if home.idp.exists() else {}
    for principal, app in apps.items():
        if (
            app.app.auth == "mtls"
            and principal in revoked
            and pki.revocation_reason(principal) != REMOVED
        ):
            out[principal] = "its certificate was revoked (streamplane pki revoke)"
        elif app.app.auth == "oauth" and principal in clients and clients[principal].disabled:
            out[principal] = "its OAuth client is disabled"
    if home.clients.exists():
        here = _spec_line(spec)
        for path in home.clients.glob("*.properties"):
            # Only what this spec gave an identity: another spec applied to the same
            # cluster keeps its own applications.
            if path.stem not in apps and here in path.read_text().splitlines()[:3]:
                out[path.stem] = REMOVED
    return out


def _spec_line(spec: Spec) -> str:
    """The client config's line naming the spec that wrote it."""
    return f"# spec: {spec.root.resolve()}"


def application_settings(
    app: ApplicationEntry, data_dir: Path, secrets: SecretStore, *, create: bool
) -> ConnectionSettings | None:
    """The application's own connection to the local cluster (None: no identity yet).

    With ``create``, the identity is made when missing: a certificate issued, an OAuth
    client registered, a SCRAM password generated (apply then sets the credential).
    """
    home = DataDir(data_dir)
    state = home.read_state()
    if state is None:
        raise PlanError(f"{data_dir} holds no local cluster; start it with `streamplane up`")
    ca = str(home.pki / "ca.pem")
    principal = app.principal
    if app.app.auth == "mtls":
        pki = _stores(home)[0]
        issued = pki.certificate(principal)
        revoked = pki.revocation_reason(principal)
        if revoked is not None and (revoked != REMOVED or not create):
            return None
        if issued is None or revoked is not None:
            if not create:
                return None
            issued = pki.issue(principal, force=revoked is not None)
        return ConnectionSettings(
            bootstrap_servers=state.mtls_bootstrap_servers,
            security_protocol="SSL",
            sasl_mechanism=None,
            ssl_ca=ca,
            ssl_certificate=str(issued.cert),
            ssl_key=str(issued.key),
        )
    if app.app.auth == "oauth":
        idp = _stores(home)[1]
        secret = idp.client_secret(principal)
        if secret is None or principal not in idp.clients():
            if not create:
                return None
            secret = idp.register_client(principal, principal=principal)
        return ConnectionSettings(
            bootstrap_servers=state.bootstrap_servers,
            security_protocol=state.sasl_protocol,
            sasl_mechanism="OAUTHBEARER",
            ssl_ca=ca if state.tls else None,
            oauth_token_url=idp_url(state.port_offset) + TOKEN_PATH,
            oauth_client_id=principal,
            oauth_client_secret=secret,
        )
    password = secrets.password(app, create=create)
    if not password:
        return None
    return _scram(state, principal, password, ca)


def _scram(state: ClusterState, principal: str, password: str, ca: str) -> ConnectionSettings:
    return ConnectionSettings(
        bootstrap_servers=state.bootstrap_servers,
        security_protocol=state.sasl_protocol,
        username=principal,
        password=password,
        ssl_ca=ca if state.tls else None,
    )


def provision_identities(
    spec: Spec, cluster: str, data_dir: Path, secrets: SecretStore, cut_off: dict[str, str]
) -> IdentityReport:
    """Make every application's identity and write its client config; undo cut-off ones.

    Runs after the plan's ACLs and credentials are applied, so a configuration is written
    only for an identity the cluster accepts.
    """
    home = DataDir(data_dir)
    report = IdentityReport()
    pki, idp = _stores(home)
    had_cert = set(pki.revoked()) | {p for p in _names(home.pki / "issued", ".pem")}
    had_client = set(idp.clients())
    for app in spec.applications_on(cluster):
        principal = app.principal
        path = client_config_path(data_dir, principal)
        if principal in cut_off:
            path.unlink(missing_ok=True)
            report.skipped[principal] = cut_off[principal]
            continue
        if app.app.credentials == "external" and app.app.auth == "scram":
            continue
        settings = application_settings(app, data_dir, secrets, create=True)
        if settings is None:
            report.skipped[principal] = "no password source"
            continue
        if app.app.auth == "mtls" and principal not in had_cert:
            report.issued.append(principal)
        if app.app.auth == "oauth" and principal not in had_client:
            report.registered.append(principal)
        header = (
            f"# {principal} ({app.app.auth}), application {app.app.name} of tenant "
            f"{app.tenant.name}: written by `streamplane apply`; "
            f"`streamplane client-config {app.app.name}` prints it.\n{_spec_line(spec)}\n"
        )
        write_secret_file(path, header + settings.properties_text())
        report.written.append(path)
    for principal, why in sorted(cut_off.items()):
        if why == REMOVED:
            client_config_path(data_dir, principal).unlink(missing_ok=True)
            # Its OAuth client goes (back in the spec, it is registered anew), its
            # certificate is revoked (back in the spec, it gets a new one).
            idp.remove_client(principal)
            if pki.certificate(principal) is not None and principal not in pki.revoked():
                pki.revoke(principal, reason=REMOVED)
        report.cut_off.append(principal)
        report.cut_off_why[principal] = why
    return report


def _names(folder: Path, suffix: str) -> set[str]:
    if not folder.exists():
        return set()
    return {
        p.name.removesuffix(suffix)
        for p in folder.iterdir()
        if p.name.endswith(suffix) and not p.name.endswith(".keystore.pem")
    }


__all__ = [
    "IdentityReport",
    "application_settings",
    "client_config_path",
    "cut_off_principals",
    "provision_identities",
]
