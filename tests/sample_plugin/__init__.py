"""A channel shipped as a separate package (registered through the ``huying.channels`` entry point
in the tests), with a table of its own."""

from typing import Annotated

import msgspec

from core.plugin_api import Channel, field, hookimpl


class ParkingFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    plate: Annotated[str, field("车牌号", "例如 湘A12345", min_length=7, max_length=8)]


@hookimpl
def register_channel():
    return Channel(code="parking", name="停车专线", description="占道停车、车位纠纷。", fields=ParkingFields,
                   kinds=("complaint", "consult"))


@hookimpl
def piccolo_apps():
    return ["tests.sample_plugin.piccolo_app"]
