"""Mapping DSL: YAML documents compiled to fast record translators (see docs/mappings.md).

from mappings import load_mapping, preview
mapping = load_mapping("files/demo_accounts")      # or a path to a .yaml file
mapping.map(record)      # -> core.model.mapped.MappedRecord | None
preview(mapping, record) # -> JSON-friendly dict, what `l2c mapping test` prints
"""

from mappings.catalog import list_builtin, load_mapping, resolve
from mappings.errors import MappingSpecError, Problem
from mappings.loader import load_file, load_text
from mappings.preview import outcome, preview, read_sample, to_json
from mappings.runtime import CompiledMapping

__all__ = [
    "CompiledMapping",
    "MappingSpecError",
    "Problem",
    "list_builtin",
    "load_file",
    "load_mapping",
    "load_text",
    "outcome",
    "preview",
    "read_sample",
    "resolve",
    "to_json",
]
