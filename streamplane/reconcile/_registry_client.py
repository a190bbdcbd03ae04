"""A schema registry client for reconciling: Confluent's REST API over httpx, synchronous.

httpx rather than confluent-kafka's ``SchemaRegistryClient``: the latter's
``test_compatibility`` returns only a boolean (the ``?verbose=true`` messages naming the
field paths are dropped) and it caches lookups for the life of the process, while a plan
must show the registry as it is now.

A schema travels with its data contract (Confluent's ``metadata`` and ``ruleSet``):
``register`` and ``check`` send the spec's, ``version`` returns the registered one.

    RegistryClient            what reconciling needs of a registry (a Protocol; tests fake it)
    └── HttpRegistryClient    the REST API; unreachable -> PlanError naming the URL and the fix,
                              an error answer -> RegistryError with Confluent's error_code

The same client reads and writes the KEKs of Confluent's DEK registry (``/dek-registry/v1``),
which the spec's ``encryption`` blocks declare (``_keks.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

from streamplane.errors import PlanError, RegistryError
from streamplane.model import Contract


@dataclass(frozen=True)
class RegisteredVersion:
    subject: str
    version: int
    schema_id: int
    schema_type: str
    text: str = field(repr=False)
    references: tuple[dict[str, Any], ...] = ()
    #: The version's data contract, as the registry returns it (None: none registered).
    metadata: dict[str, Any] | None = None
    rule_set: dict[str, Any] | None = None

    @property
    def contract(self) -> Contract:
        return Contract(self.metadata, self.rule_set)


class RegistryClient(Protocol):
    """The registry operations reconciling uses (Confluent's REST API)."""

    url: str

    def global_level(self) -> str: ...

    def subject_level(self, subject: str) -> str | None:
        """The subject's own compatibility level; None when it follows the global one."""
        ...

    def compatibility_group(self, subject: str) -> str | None:
        """The metadata property the subject groups versions by for compatibility, if any."""
        ...

    def version(self, subject: str, version: int | Literal["latest"]) -> RegisteredVersion | None:
        """A live version, or None when the subject (or version) does not exist."""
        ...

    def version_numbers(self, subject: str) -> list[int]: ...

    def lookup(self, subject: str, schema_type: str, text: str) -> int | None:
        """The version of ``subject`` holding this schema, or None."""
        ...

    def check(
        self, subject: str, schema_type: str, text: str, contract: Contract | None = None
    ) -> list[str]:
        """Why the schema may not follow the latest version (verbose); [] when it may.

        The contract's metadata matters: under a compatibilityGroup the registry compares
        only with versions of the same group value.
        """
        ...

    def set_level(self, subject: str, level: str | None) -> None:
        """Set the subject's compatibility level; None removes it (back to the global one)."""
        ...

    def set_group(self, subject: str, group: str) -> None:
        """Set the subject's compatibilityGroup (the spec never removes one)."""
        ...

    def register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        references: tuple[dict[str, Any], ...] = (),
        contract: Contract | None = None,
    ) -> int: ...


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where a cluster's registry is and how to authenticate to it."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Said when the registry cannot be reached: how to start it or fix its address.
    how_to_fix: str = ""

    def client(self) -> HttpRegistryClient:
        return HttpRegistryClient(self)


class HttpRegistryClient:
    """Confluent Schema Registry's REST API, synchronous. Use as a context manager."""

    def __init__(self, endpoint: RegistryEndpoint, *, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self.url = endpoint.url
        auth = None
        if endpoint.username is not None:
            # The registry checks platform principals with HTTP basic auth.
            auth = httpx.BasicAuth(endpoint.username, endpoint.password or "")
        self._http = httpx.Client(
            base_url=endpoint.url,
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            headers={
                "Accept": "application/vnd.schemaregistry.v1+json, application/json",
                "Content-Type": "application/vnd.schemaregistry.v1+json",
            },
        )

    def __enter__(self) -> HttpRegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        missing: tuple[int, ...] = (),
    ) -> Any:
        """The JSON answer; None when the registry says 404 with one of ``missing`` codes."""
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise PlanError(
                f"the schema registry at {self.url} is not reachable ({reason}); "
                f"{self.endpoint.how_to_fix}"
            ) from None
        if response.is_success:
            try:
                return response.json() if response.content else None
            except ValueError:
                raise PlanError(
                    f"{self.url} answered {method} {path} with something that is not JSON; is "
                    f"it a schema registry? {self.endpoint.how_to_fix}"
                ) from None
        try:
            error = response.json()
            code, message = int(error.get("error_code", response.status_code)), error["message"]
        except (ValueError, KeyError, TypeError, AttributeError):
            code, message = response.status_code, response.text.strip()[:300]
        if response.status_code == 404 and code in missing:
            return None
        if response.status_code in (401, 403):
            who = self.endpoint.username or "(no credentials)"
            raise RegistryError(
                response.status_code,
                code,
                f"the schema registry at {self.url} refused {method} {path} for principal "
                f"{who} (HTTP {response.status_code}: {message}); check the cluster's admin "
                "credentials",
            )
        raise RegistryError(
            response.status_code,
            code,
            f"schema registry {self.url}: {method} {path} failed: {message} "
            f"(HTTP {response.status_code}, error code {code})",
        )

    @staticmethod
    def _subject(subject: str) -> str:
        return quote(subject, safe="")

    @staticmethod
    def _schema(
        schema_type: str,
        text: str,
        refs: Iterable[dict[str, Any]] = (),
        contract: Contract | None = None,
    ) -> dict[str, Any]:
        # schemaType always: Confluent takes "AVRO" too, and Protobuf/JSON need it.
        body: dict[str, Any] = {"schema": text, "schemaType": schema_type}
        references = list(refs)
        if references:
            body["references"] = references
        # An empty object is sent as is: it clears what the registry would otherwise carry
        # over from the previous version (Confluent inherits an absent metadata/ruleSet).
        if contract is not None and contract.metadata is not None:
            body["metadata"] = contract.metadata
        if contract is not None and contract.rule_set is not None:
            body["ruleSet"] = contract.rule_set
        return body

    def global_level(self) -> str:
        return str(self._call("GET", "/config")["compatibilityLevel"])

    def subject_level(self, subject: str) -> str | None:
        # 40408: no subject-level config; 40401: older registries say "subject not found".
        answer = self._call("GET", f"/config/{self._subject(subject)}", missing=(40408, 40401, 404))
        return None if answer is None else str(answer["compatibilityLevel"])

    def compatibility_group(self, subject: str) -> str | None:
        answer = self._call(
            "GET",
            f"/config/{self._subject(subject)}",
            params={"defaultToGlobal": "true"},
            missing=(40408, 40401, 404),
        )
        group = None if answer is None else answer.get("compatibilityGroup")
        return str(group) if group else None

    def version(self, subject: str, version: int | Literal["latest"]) -> RegisteredVersion | None:
        answer = self._call(
            "GET",
            f"/subjects/{self._subject(subject)}/versions/{version}",
            missing=(40401, 40402),
        )
        if answer is None:
            return None
        return RegisteredVersion(
            subject=subject,
            version=int(answer["version"]),
            schema_id=int(answer["id"]),
            schema_type=str(answer.get("schemaType", "AVRO")),
            text=str(answer["schema"]),
            references=tuple(answer.get("references") or ()),
            metadata=answer.get("metadata") or None,
            rule_set=answer.get("ruleSet") or None,
        )

    def version_numbers(self, subject: str) -> list[int]:
        answer = self._call("GET", f"/subjects/{self._subject(subject)}/versions", missing=(40401,))
        return [int(v) for v in answer or []]

    def lookup(self, subject: str, schema_type: str, text: str) -> int | None:
        answer = self._call(
            "POST",
            f"/subjects/{self._subject(subject)}",
            body=self._schema(schema_type, text),
            missing=(40401, 40403),
        )
        return None if answer is None else int(answer["version"])

    def check(
        self, subject: str, schema_type: str, text: str, contract: Contract | None = None
    ) -> list[str]:
        answer = self._call(
            "POST",
            f"/compatibility/subjects/{self._subject(subject)}/versions/latest",
            body=self._schema(schema_type, text, contract=contract),
            params={"verbose": "true"},
        )
        if answer.get("is_compatible", False):
            return []
        messages = [str(m) for m in answer.get("messages") or []]
        return messages or ["incompatible (the registry gave no details)"]

    def set_level(self, subject: str, level: str | None) -> None:
        path = f"/config/{self._subject(subject)}"
        if level is None:
            self._call("DELETE", path, missing=(40408, 40401, 404))
        else:
            self._call("PUT", path, body={"compatibility": level})

    def set_group(self, subject: str, group: str) -> None:
        # Only the group: a config update sets the fields it is given and keeps the level.
        self._call("PUT", f"/config/{self._subject(subject)}", body={"compatibilityGroup": group})

    def register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        references: tuple[dict[str, Any], ...] = (),
        contract: Contract | None = None,
    ) -> int:
        answer = self._call(
            "POST",
            f"/subjects/{self._subject(subject)}/versions",
            body=self._schema(schema_type, text, references, contract),
        )
        return int(answer["id"])

    # Every subject: what the spec no longer owns is found among them (see ``_tenants``).
    def subjects(self) -> list[str]:
        """The live subjects (soft-deleted ones are gone from this list)."""
        return [str(subject) for subject in self._call("GET", "/subjects") or []]

    def delete_subject(self, subject: str) -> None:
        """Soft-delete every version: the ids stay readable for records already written."""
        self._call("DELETE", f"/subjects/{self._subject(subject)}", missing=(40401,))

    # Streamplane's own registry: the access policy (see streamplane.registry._access).
    def has_access_policies(self) -> bool:
        """Whether this registry enforces a Streamplane access policy (Confluent's does not)."""
        return self._call("GET", "/streamplane/status", missing=(404, 40401)) is not None

    def access_policy(self) -> dict[str, Any] | None:
        policy = self._call("GET", "/streamplane/access", missing=(404,))
        return dict(policy) if policy is not None else None

    def set_access_policy(self, policy: dict[str, Any]) -> None:
        self._call("PUT", "/streamplane/access", body=policy)

    # Confluent's DEK registry: the KEKs ENCRYPT rules name (see streamplane.reconcile._keks).
    def kek_names(self) -> list[str] | None:
        """Every KEK's name, soft-deleted ones too; None when the registry has no DEK registry
        (it answers 404 for the path, as a Confluent registry without it does)."""
        answer = self._call("GET", _KEKS, params={"deleted": "true"}, missing=(404,))
        return None if answer is None else [str(name) for name in answer]

    def kek(self, name: str) -> dict[str, Any] | None:
        """The KEK as the registry holds it (``deleted`` says if soft-deleted), or None."""
        answer = self._call(
            "GET", f"{_KEKS}/{quote(name, safe='')}", params={"deleted": "true"}, missing=(40470,)
        )
        return None if answer is None else dict(answer)

    def create_kek(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /keks``: Confluent's CreateKekRequest (name, kmsType, kmsKeyId, ...)."""
        return dict(self._call("POST", _KEKS, body=body))

    def update_kek(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /keks/{name}``: kmsProps, doc and shared only; kmsType and kmsKeyId are fixed."""
        return dict(self._call("PUT", f"{_KEKS}/{quote(name, safe='')}", body=body))

    def undelete_kek(self, name: str) -> None:
        self._call("POST", f"{_KEKS}/{quote(name, safe='')}/undelete")

    def dek_subjects(self, kek: str) -> list[str]:
        """The subjects of a KEK's DEKs (live ones; [] when the KEK is gone)."""
        answer = self._call("GET", f"{_KEKS}/{quote(kek, safe='')}/deks", missing=(40470,))
        return [str(subject) for subject in answer or []]

    def destroy_dek(self, kek: str, subject: str) -> None:
        """Delete every version of a DEK for good: soft first, as Confluent's API requires."""
        path = f"{_KEKS}/{quote(kek, safe='')}/deks/{quote(subject, safe='')}"
        self._call("DELETE", path, missing=(40470,))
        self._call("DELETE", path, params={"permanent": "true"}, missing=(40470,))


_KEKS = "/dek-registry/v1/keks"
