"""Data protection and lineage: what the estate's events are, where they flow, who owns them.

AsyncAPI 3.0 documents per tenant domain (:mod:`streamplane.lineage.asyncapi`); flows the
spec declares joined with those the cluster shows (:mod:`streamplane.lineage.flows`).
"""

from streamplane.lineage.asyncapi import AsyncApiDocument, asyncapi_documents

__all__ = ["AsyncApiDocument", "asyncapi_documents"]
