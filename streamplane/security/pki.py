"""The local cluster's development CA: certificates for brokers and for mTLS applications.

A platform team's CA is usually Vault, cert-manager or a corporate PKI; a laptop has none,
so every local cluster gets its own, created on first start under ``<data dir>/pki``: an
EC P-256 CA valid ten years, and leaf certificates whose subject is ``CN=<name>,
OU=streamplane,O=Streamplane``. The brokers map that subject to the principal ``<name>``
(:func:`principal_mapping_rules`, with no DEFAULT rule, so any other subject is refused
instead of becoming a principal named after its whole DN).

Kafka does not check revocation lists on its own, so ``revoke`` does two things: it records
the serial and publishes a CRL (``crl.pem``, for clients and tools that check one), and the
principal is cut off by ``apply``, which removes its ACLs (see
``streamplane.reconcile._identities``).

Files (all PEM, written atomically; private keys 0600):
``ca.pem``, ``ca.key``, ``issued/<name>.pem`` (leaf + CA chain), ``issued/<name>.key``
(PKCS#8, unencrypted: librdkafka and Kafka's PEM key store both read it),
``issued/<name>.keystore.pem`` (key then chain: Kafka's ``ssl.keystore.type=PEM`` file),
``revoked.json`` and ``crl.pem``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streamplane.errors import StreamplaneError
from streamplane.local._layout import write_public_file, write_secret_file
from streamplane.security._subject import ORG, PKI_OU, SUBJECT_PATTERN

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_DAYS = 3650
CA_DAYS = 3650


class PkiError(StreamplaneError):
    """A certificate that cannot be issued or revoked as asked."""


@dataclass(frozen=True)
class IssuedCertificate:
    name: str
    #: The leaf certificate followed by the CA's.
    cert: Path
    key: Path
    #: Key then chain in one file, as Kafka's PEM key store reads it.
    keystore: Path
    not_after: datetime
    serial: int


def principal_mapping_rules() -> str:
    """Kafka's ``ssl.principal.mapping.rules``: this CA's subjects map to their CN.

    Kafka matches the rule against ``X500Principal.getName()`` (RFC 2253: the most
    specific RDN first, so ``CN=...,OU=...,O=...``). No DEFAULT rule follows: a subject
    that does not match is refused at authentication.
    """
    return f"RULE:{SUBJECT_PATTERN}/$1/"


class Pki:
    """The CA under ``root`` and what it issued."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    def _issued(self, name: str, suffix: str) -> Path:
        return self.root / "issued" / f"{name}{suffix}"

    # ------------------------------------------------------------------ the CA
    def init(self) -> bool:
        """Create the CA unless it exists; True if it was created."""
        if self.ca_cert.exists() and self.ca_key.exists():
            return False
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"Streamplane development CA {_now():%Y%m%d%H%M%S}"
                ),
            ]
        )
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        self.root.mkdir(parents=True, exist_ok=True)
        write_secret_file(self.ca_key, _key_pem(key))
        _write_public(self.ca_cert, cert.public_bytes(serialization.Encoding.PEM).decode())
        self._write_crl()
        return True

    def fingerprint(self) -> str:
        """The CA certificate's SHA-256 fingerprint, as ``openssl x509 -fingerprint`` shows it."""
        digest = self._ca()[0].fingerprint(hashes.SHA256())
        return ":".join(f"{b:02X}" for b in digest)

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if not self.ca_cert.exists():
            raise PkiError(f"no CA in {self.root}: run `streamplane pki init` (or `up`)")
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key

    # ----------------------------------------------------------------- leaves
    def issue(
        self,
        name: str,
        *,
        days: int = 365,
        server: bool = False,
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        force: bool = False,
        not_before: datetime | None = None,
    ) -> IssuedCertificate:
        """Issue (or replace) ``name``'s certificate; a revoked name needs ``force``.

        ``not_before`` back-dates the certificate (an already expired one, to test that
        it is refused, without waiting).
        """
        _check_name(name)
        if not 1 <= days <= MAX_DAYS:
            raise PkiError(f"--days {days}: a certificate lasts 1 to {MAX_DAYS} days")
        if name in self.revoked() and not force:
            raise PkiError(
                f"the certificate of {name} was revoked; issue a new one deliberately with "
                f"`streamplane pki issue {name} --force`, then apply the spec"
            )
        ca_cert, ca_key = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or (_now() - timedelta(minutes=5))
        usage = [ExtendedKeyUsageOID.CLIENT_AUTH] + (
            [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        )
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, PKI_OU),
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        chain = (
            cert.public_bytes(serialization.Encoding.PEM)
            + ca_cert.public_bytes(serialization.Encoding.PEM)
        ).decode()
        key_pem = _key_pem(key)
        write_secret_file(self._issued(name, ".key"), key_pem)
        write_secret_file(self._issued(name, ".keystore.pem"), key_pem + chain)
        _write_public(self._issued(name, ".pem"), chain)
        issued = self.certificate(name)
        assert issued is not None
        return issued

    def certificate(self, name: str) -> IssuedCertificate | None:
        path = self._issued(name, ".pem")
        if not path.exists():
            return None
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        return IssuedCertificate(
            name=name,
            cert=path,
            key=self._issued(name, ".key"),
            keystore=self._issued(name, ".keystore.pem"),
            not_after=cert.not_valid_after_utc,
            serial=cert.serial_number,
        )

    def issued(self) -> list[IssuedCertificate]:
        folder = self.root / "issued"
        if not folder.exists():
            return []
        names = sorted(
            p.name.removesuffix(".pem")
            for p in folder.glob("*.pem")
            if not p.name.endswith(".keystore.pem")
        )
        return [c for c in (self.certificate(n) for n in names) if c is not None]

    # ------------------------------------------------------------- revocation
    def _revocations(self) -> dict[str, dict[str, str | int]]:
        path = self.root / "revoked.json"
        if not path.exists():
            return {}
        entries: dict[str, dict[str, str | int]] = json.loads(path.read_text())
        return entries

    def revoke(self, name: str, *, reason: str = "revoked by an operator") -> IssuedCertificate:
        """Revoke ``name``'s current certificate: recorded (with why), and in the CRL."""
        issued = self.certificate(name)
        if issued is None:
            known = ", ".join(c.name for c in self.issued()) or "none"
            raise PkiError(f"no certificate named {name!r} in {self.root} (issued: {known})")
        entries = self._revocations()
        entries[name] = {
            "serial": issued.serial,
            "revoked_at": _now().isoformat(),
            "reason": reason,
        }
        _write_public(self.root / "revoked.json", json.dumps(entries, indent=2) + "\n")
        self._write_crl()
        return issued

    def revoked(self) -> dict[str, int]:
        """name -> serial, for names whose *current* certificate is revoked (a name issued
        again with ``force`` holds a new serial and is no longer revoked)."""
        out: dict[str, int] = {}
        for name, entry in self._revocations().items():
            current = self.certificate(name)
            serial = int(entry["serial"])
            if current is None or current.serial == serial:
                out[name] = serial
        return out

    def revocation_reason(self, name: str) -> str | None:
        """Why ``name``'s current certificate was revoked (None: it is not)."""
        if name not in self.revoked():
            return None
        return str(self._revocations()[name].get("reason", "revoked by an operator"))

    def _write_crl(self) -> None:
        ca_cert, ca_key = self._ca()
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now)
            .next_update(now + timedelta(days=30))
        )
        for entry in self._revocations().values():
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(entry["serial"]))
                .revocation_date(datetime.fromisoformat(str(entry["revoked_at"])))
                .build()
            )
            builder = builder.add_revoked_certificate(revoked)
        crl = builder.sign(ca_key, hashes.SHA256())
        _write_public(self.crl, crl.public_bytes(serialization.Encoding.PEM).decode())

    # -------------------------------------------------------------- diagnosis
    def check(self, cert_pem: bytes) -> list[str]:
        """What is wrong with a certificate for this CA now, in words ([] if nothing)."""
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            return [f"not a PEM certificate ({exc})"]
        ca_cert, _ = self._ca()
        problems: list[str] = []
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            problems.append(
                f"signed by another CA (issuer {cert.issuer.rfc4514_string()}), not this "
                f"cluster's ({ca_cert.subject.rfc4514_string()})"
            )
        now = _now()
        if cert.not_valid_after_utc <= now:
            problems.append(f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        if cert.not_valid_before_utc > now:
            problems.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
        for name, entry in self._revocations().items():
            if int(entry["serial"]) == cert.serial_number:
                problems.append(f"revoked on {entry['revoked_at']} (certificate of {name})")
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
                problems.append("no clientAuth usage: it cannot identify a client")
        except x509.ExtensionNotFound:
            pass
        subject = cert.subject.rfc4514_string()
        if not re.match(SUBJECT_PATTERN, subject):
            problems.append(
                f"its subject {subject} matches no principal mapping rule "
                f"(expected CN=<principal>,OU={PKI_OU},O={ORG})"
            )
        return problems


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise PkiError(
            f"{name!r} is not a principal name: use letters, digits, '.', '_' and '-' "
            "(at most 128, starting with a letter or digit)"
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _write_public(path: Path, text: str) -> None:
    """A public file (certificates, CRL), replaced atomically like the secret ones."""
    write_public_file(path, text)
