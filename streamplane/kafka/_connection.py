"""How to reach and authenticate to a cluster, rendered for each client library."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from streamplane.kafka._client_log import routed_client_logger


@dataclass(frozen=True)
class ConnectionSettings:
    """How a client reaches and proves who it is; the one place client dicts are built.

    Three identities: SCRAM (``username``/``password``), a client certificate (``ssl_*``
    with ``security_protocol="SSL"``: mTLS, the broker maps the certificate's CN to the
    principal), and OAuth 2 client credentials (``sasl_mechanism="OAUTHBEARER"`` with
    ``oauth_*``: the client fetches and refreshes its own tokens from the token endpoint).
    ``ssl_ca`` alone is the trust anchor of any TLS listener.
    """

    bootstrap_servers: str
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str | None = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    #: PEM files: the CA that signed the brokers' certificates, the client's certificate
    #: (chain) and its private key.
    ssl_ca: str | None = None
    ssl_certificate: str | None = None
    ssl_key: str | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_scope: str | None = None

    @property
    def oauth(self) -> bool:
        return self.sasl_mechanism == "OAUTHBEARER"

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def with_bootstrap(self, bootstrap_servers: str) -> ConnectionSettings:
        return replace(self, bootstrap_servers=bootstrap_servers)

    def with_credentials(self, username: str, password: str) -> ConnectionSettings:
        return replace(self, username=username, password=password)

    def librdkafka(self, **extra: Any) -> dict[str, Any]:
        """Config dict for confluent-kafka (librdkafka property names).

        When the program routed the client libraries' logs (the CLI does, see
        ``_client_log``), the dict also carries that ``logger``, so librdkafka's own
        lines never reach the user's terminal; ``extra`` may still set its own.
        """
        logger = routed_client_logger()
        conf: dict[str, Any] = {"logger": logger} if logger is not None else {}
        conf.update(self._librdkafka_properties())
        conf.update(extra)
        return conf

    def _librdkafka_properties(self) -> dict[str, Any]:
        """The connection alone, as librdkafka properties: what a properties file holds."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.tls:
            for key, value in (
                ("ssl.ca.location", self.ssl_ca),
                ("ssl.certificate.location", self.ssl_certificate),
                ("ssl.key.location", self.ssl_key),
            ):
                if value is not None:
                    conf[key] = value
        if not self.sasl:
            return conf
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.oauth:
            conf["sasl.oauthbearer.method"] = "oidc"
            for key, value in (
                ("sasl.oauthbearer.token.endpoint.url", self.oauth_token_url),
                ("sasl.oauthbearer.client.id", self.oauth_client_id),
                ("sasl.oauthbearer.client.secret", self.oauth_client_secret),
                ("sasl.oauthbearer.scope", self.oauth_scope),
            ):
                if value is not None:
                    conf[key] = value
            return conf
        if self.username is not None:
            conf["sasl.username"] = self.username
        if self.password is not None:
            conf["sasl.password"] = self.password
        return conf

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (used for admin calls librdkafka lacks)."""
        conf: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.tls:
            conf.update(
                ssl_cafile=self.ssl_ca, ssl_certfile=self.ssl_certificate, ssl_keyfile=self.ssl_key
            )
        if self.sasl and self.sasl_mechanism:
            if self.oauth:
                raise ValueError(
                    "kafka-python admin calls need a SCRAM identity; this connection uses "
                    "OAUTHBEARER (connect as the cluster's admin instead)"
                )
            conf["sasl_mechanism"] = self.sasl_mechanism
            conf["sasl_plain_username"] = self.username
            conf["sasl_plain_password"] = self.password
        return conf

    def java_client(self) -> dict[str, str]:
        """Properties for Kafka's Java clients and tools (``--command-config``, MirrorMaker 2)."""
        conf = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.tls:
            conf.update(self._java_tls())
        if self.sasl and self.oauth:
            conf["sasl.mechanism"] = "OAUTHBEARER"
            conf["sasl.login.callback.handler.class"] = _JAVA_OAUTH_LOGIN_HANDLER
            conf["sasl.oauthbearer.token.endpoint.url"] = self.oauth_token_url or ""
            options = [
                f"clientId={_jaas_quoted(self.oauth_client_id or '')}",
                f"clientSecret={_jaas_quoted(self.oauth_client_secret or '')}",
            ] + ([f"scope={_jaas_quoted(self.oauth_scope)}"] if self.oauth_scope else [])
            conf["sasl.jaas.config"] = f"{_JAVA_OAUTH_MODULE} required {' '.join(options)};"
        elif self.sasl and self.sasl_mechanism:
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.jaas.config"] = (
                f"{module} required username={_jaas_quoted(self.username or '')} "
                f"password={_jaas_quoted(self.password or '')};"
            )
        return conf

    def _java_tls(self) -> dict[str, str]:
        """PEM trust and key material for Java clients; the key and chain go inline, since a
        Java PEM key store file must hold both while librdkafka takes them apart."""
        conf: dict[str, str] = {}
        if self.ssl_ca is not None:
            conf["ssl.truststore.type"] = "PEM"
            conf["ssl.truststore.location"] = self.ssl_ca
        if self.ssl_certificate is not None and self.ssl_key is not None:
            conf["ssl.keystore.type"] = "PEM"
            conf["ssl.keystore.certificate.chain"] = Path(self.ssl_certificate).read_text()
            conf["ssl.keystore.key"] = Path(self.ssl_key).read_text()
        return conf

    def properties_text(self) -> str:
        """librdkafka-style properties, accepted by confluent-kafka and by ``kcat -F``."""
        conf = self._librdkafka_properties()
        return "".join(f"{key}={value}\n" for key, value in conf.items())

    def java_properties_text(self) -> str:
        """:meth:`java_client` as a Java properties file: what ``--command-config`` reads.

        Values are escaped the way ``java.util.Properties.load`` unescapes them, so a
        password with a backslash or a leading space arrives intact.
        """
        conf = self.java_client()
        return "".join(f"{key}={_java_properties_escaped(value)}\n" for key, value in conf.items())

    @classmethod
    def from_properties_file(cls, path: Path) -> ConnectionSettings:
        """Read a file written by :meth:`properties_text`."""
        values = read_properties(path)
        return cls(
            bootstrap_servers=values["bootstrap.servers"],
            security_protocol=values.get("security.protocol", "PLAINTEXT"),
            sasl_mechanism=values.get("sasl.mechanism"),
            username=values.get("sasl.username"),
            password=values.get("sasl.password"),
            ssl_ca=values.get("ssl.ca.location"),
            ssl_certificate=values.get("ssl.certificate.location"),
            ssl_key=values.get("ssl.key.location"),
            oauth_token_url=values.get("sasl.oauthbearer.token.endpoint.url"),
            oauth_client_id=values.get("sasl.oauthbearer.client.id"),
            oauth_client_secret=values.get("sasl.oauthbearer.client.secret"),
            oauth_scope=values.get("sasl.oauthbearer.scope"),
        )


_JAVA_OAUTH_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
_JAVA_OAUTH_LOGIN_HANDLER = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
)


def _jaas_quoted(value: str) -> str:
    """A JAAS option value in double quotes; Kafka's JaasConfig reads \\ and \\" escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _java_properties_escaped(value: str) -> str:
    """Escape a value for ``java.util.Properties.load`` (backslash, line breaks, lead space)."""
    text = (
        value.replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\f", "\\f")
    )
    return "\\ " + text[1:] if text.startswith(" ") else text


def read_properties(path: Path) -> dict[str, str]:
    """``key=value`` lines of a Java-style properties file (comments and blanks skipped)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
