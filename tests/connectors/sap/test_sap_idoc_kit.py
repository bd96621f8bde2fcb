"""The connector test kit on sap_idoc, against an SFTP server started with this module.

The kit builds its test class at import time from SAMPLE_CONFIG, so the server (and
the folder it serves, holding one DEBMAS07, INVOIC02 and ORDERS05 file) starts here,
at module level, and stops when the test process exits. The kit's syncs start
without state, so no file is ever archived: every sync sees the same three files.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from connectors.sap.idoc import CONNECTOR
from connectors.sdk.testing import connector_tests
from tests.connectors.sap.sftp_server import (
    SftpTestServer,
    drop_fixture,
    idoc_config,
    make_folders,
)

_ROOT = make_folders(Path(tempfile.mkdtemp(prefix="l2c-idoc-kit-")))
for _name in (
    "DEBMAS07_0000000000401001.xml",
    "INVOIC02_0000000000502001.xml",
    "ORDERS05_0000000000603001.xml",
):
    drop_fixture(_ROOT, _name)
_SERVER = SftpTestServer(_ROOT).start()
atexit.register(shutil.rmtree, _ROOT, True)
atexit.register(_SERVER.stop)

SAMPLE_CONFIG = idoc_config(_SERVER)

TestSapIdocConnector = connector_tests(CONNECTOR, SAMPLE_CONFIG)
