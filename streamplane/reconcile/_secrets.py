"""Passwords of application principals: from the environment or files the spec names.

Secrets never live in the spec and are never printed. For the local cluster, a
principal without a secret source gets a generated one in ``<data dir>/secrets/``
so the example estate works out of the box.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from streamplane.errors import PlanError
from streamplane.model import ApplicationEntry, Secret, Spec


class SecretStore:
    def __init__(self, spec: Spec, *, local_secrets_dir: Path | None) -> None:
        self.spec = spec
        self.local_dir = local_secrets_dir

    def resolve(self, source: Secret, *, what: str) -> str:
        """Read a secret from the environment variable or file the spec names."""
        if source.env is not None:
            value = os.environ.get(source.env)
            if not value:
                raise PlanError(
                    f"{what}: environment variable {source.env} is not set; export it "
                    "(the spec names it as the password source)"
                )
            return value
        path = (self.spec.root / str(source.file)).resolve()
        if not path.exists():
            raise PlanError(f"{what}: password file {path} does not exist")
        return path.read_text().strip()

    def platform_password(self, principal: str, *, create: bool) -> str | None:
        """A platform principal's generated password (MM2's), as for an application."""
        if self.local_dir is None:
            return None
        return self._local(principal, create=create)

    def password(self, app: ApplicationEntry, *, create: bool) -> str | None:
        """The principal's password, or None when none is configured (and none may be made).

        "" means: a local principal whose secret will be generated at apply time.
        """
        if app.app.password is not None:
            return self.resolve(app.app.password, what=f"application {app.app.name}")
        if self.local_dir is None:
            return None
        return self._local(app.principal, create=create)

    def _local(self, principal: str, *, create: bool) -> str:
        assert self.local_dir is not None
        path = self.local_dir / principal
        if path.exists():
            return path.read_text().strip()
        if not create:
            return ""  # will be generated at apply time
        self.local_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value
