"""The OpenAPI document says what the server really does, so clients and fuzzers can trust it."""

from __future__ import annotations

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """A request shape declared with ``forbid_unknown_fields`` is documented as
    ``additionalProperties: false``: the server refuses unknown properties with a 400."""

    def to_openapi_schema(self, field_definition, schema_creator):
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if getattr(info, "forbid_unknown_fields", False):
            registered = schema_creator.schema_registry.from_reference(schema).schema if hasattr(
                schema, "ref") else schema
            registered.additional_properties = False
        return schema
