"""The Singer connector: any Singer tap executable, run as a subprocess source.

Registered as ``singer`` in the ``l2c.connectors`` entry-point group. The hub reads
the tap's stdout with the same consumer as its in-process taps, so anything from
the Singer/Meltano ecosystem can feed the canonical store.
"""

from collections.abc import Mapping
from typing import Any

from connectors.sdk.errors import ConfigError
from connectors.sdk.spec import Connector
from connectors.singer.check import check
from connectors.singer.command import select_streams, tap_command
from connectors.singer.config import CONFIG_SCHEMA, parse_settings

__all__ = ["CONNECTOR", "tap_command"]


def _validate(config: Mapping[str, Any]) -> None:
    """Checks without running the tap: a selection must name streams of the catalog."""
    settings = parse_settings(config)
    if settings.select is not None and settings.catalog is not None:
        select_streams(settings.catalog, settings.select, legacy=False)
    if (
        settings.catalog is None
        and settings.select is None
        and settings.catalog_flag != "--catalog"
    ):
        raise ConfigError(
            "catalog_flag is set but no catalog is passed",
            field="catalog_flag",
            hint="give a catalog or a select list, or remove catalog_flag",
        )


CONNECTOR = Connector(
    name="singer",
    title="Singer tap",
    description=(
        "Runs any Singer tap executable (tap-postgres, tap-github, a house-made tap) "
        "and reads its SCHEMA/RECORD/STATE messages."
    ),
    config_schema=CONFIG_SCHEMA,
    tap_command=tap_command,
    check=check,
    validate=_validate,
)
