"""Data protection and lineage: what the estate's events are, where they flow, who owns them.

Today: AsyncAPI 3.0 documents per tenant domain (:mod:`streamplane.lineage.asyncapi`).
"""

from streamplane.lineage.asyncapi import AsyncApiDocument, asyncapi_documents

__all__ = ["AsyncApiDocument", "asyncapi_documents"]
