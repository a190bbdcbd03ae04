"""The one error the Protobuf compat layer raises, shared by its private modules."""

from __future__ import annotations


class ProtobufSchemaError(ValueError):
    """The schema (or one of its references) is not valid Protobuf; the message says what, and
    where: which file, and the line:column for .proto text."""
