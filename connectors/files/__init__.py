"""The files connector: CSV, JSONL and XLSX files dropped into a local folder.

Registered as ``files`` in the ``l2c.connectors`` entry-point group.
"""

from connectors.files.check import check
from connectors.files.config import validate
from connectors.files.tap import FilesTap
from connectors.sdk.spec import Connector

__all__ = ["CONNECTOR", "FilesTap"]

CONNECTOR = Connector(
    name="files",
    title="Files (CSV, JSONL, XLSX)",
    description=(
        "Reads files dropped into a folder: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK), "
        "JSON Lines and Excel workbooks. Each file is read once, by content hash; "
        "a crash resumes at the last committed row."
    ),
    tap=FilesTap,
    check=check,
    validate=validate,
)
