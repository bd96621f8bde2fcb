"""Named, pure transforms of field values (see docs/mappings.md for each with examples).

Importing this package registers every built-in transform in `REGISTRY`.
"""

from mappings.transforms import codes, dates, names, numbers, places, text, wire
from mappings.transforms.registry import (
    REGISTRY,
    Args,
    Context,
    Fn,
    Step,
    Transform,
    accepts_none,
    as_key,
    build_pipeline,
    parse_pipeline,
    parse_step,
)

__all__ = [
    "REGISTRY",
    "Args",
    "Context",
    "Fn",
    "Step",
    "Transform",
    "accepts_none",
    "as_key",
    "build_pipeline",
    "codes",
    "dates",
    "names",
    "numbers",
    "parse_pipeline",
    "parse_step",
    "places",
    "text",
    "wire",
]
