"""The OpenAPI description of the HTTP API, generated from the route table and the msgspec
wire types (served at ``GET /openapi.json``, rendered at ``GET /docs``)."""

from server.openapi.document import build_document, document_json
from server.openapi.operation import Operation
from server.openapi.operations import OPERATIONS

__all__ = ["OPERATIONS", "Operation", "build_document", "document_json"]
