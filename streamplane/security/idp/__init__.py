"""A small OIDC issuer for the local cluster: machine identities for OAUTHBEARER.

    home = IdpHome(Path(".streamplane/idp"))
    secret = home.register_client("volume-aggregator")     # what apply does
    app = create_app(home, IdpSettings(issuer="http://127.0.0.1:8085"))

Kafka's brokers validate its tokens with their built-in JWT validator against ``/jwks``;
clients fetch tokens from ``/token`` with client credentials. In production the same
brokers and clients point at Okta, Entra ID or Keycloak by configuration alone.
"""

from __future__ import annotations

from streamplane.security.idp._app import IDP_PORT, IdpSettings, create_app, mint_token
from streamplane.security.idp._home import IdpClient, IdpError, IdpHome, SigningKey

__all__ = [
    "IDP_PORT",
    "IdpClient",
    "IdpError",
    "IdpHome",
    "IdpSettings",
    "SigningKey",
    "create_app",
    "mint_token",
]
