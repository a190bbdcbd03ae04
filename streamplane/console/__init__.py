"""The web console: the platform as the spec defines it and as it runs, per viewer's rights.

``streamplane console serve`` runs it (``up`` supervises it on 8080 + the port offset);
``create_app`` builds the FastAPI app from a :class:`Console`.
"""

from streamplane.console.app import Console, create_app

__all__ = ["Console", "create_app"]
