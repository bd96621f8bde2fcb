"""A real SFTP server on 127.0.0.1 for the sap_idoc tests (asyncssh, in a background thread).

    with SftpTestServer(root) as server:       # root: the folder clients see as "/"
        server.port, server.host_key_line      # "ssh-ed25519 AAAA..." to pin
        server.client_key_text                 # OpenSSH private key of user KEY_USER

Users: `PASSWORD_USER` / `PASSWORD` and `KEY_USER` (public-key only). `deny` refuses
every access under the given folders, `read_only` refuses writes there, and
``posix_rename=False`` makes the server lack OpenSSH's posix-rename extension, as some
commercial servers do; ``fail_renames = True`` makes renames fail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import threading
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncssh

__all__ = [
    "IDOC_FIXTURES",
    "KEY_USER",
    "PASSWORD",
    "PASSWORD_USER",
    "SftpTestServer",
    "drop",
    "drop_fixture",
    "idoc_config",
    "make_folders",
]

PASSWORD_USER = "l2c"
PASSWORD = "s3cret-Sftp-Pa55"
KEY_USER = "l2ckey"

for _name in ("asyncssh", "asyncssh.sftp", "paramiko", "paramiko.transport"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC | asyncssh.FXF_APPEND


class SftpTestServer:
    """An SFTP server rooted at `root`, with a fresh ed25519 host key."""

    def __init__(
        self,
        root: Path,
        *,
        deny: Collection[str] = (),
        read_only: Collection[str] = (),
        posix_rename: bool = True,
        host_key: asyncssh.SSHKey | None = None,
    ) -> None:
        self.root = Path(root)
        self.deny = tuple(_norm(path) for path in deny)
        self.read_only = tuple(_norm(path) for path in read_only)
        self.posix_rename = posix_rename
        self.fail_renames = False
        """Set to make every rename fail, as on a full disk."""
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.port = 0
        self.logins = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: Any = None
        self._connections: set[Any] = set()

    @property
    def host_key_line(self) -> str:
        """The public host key, as `ssh-keyscan` prints it (without the host name)."""
        return str(self.host_key.export_public_key().decode().strip())

    @property
    def host_key_fingerprint(self) -> str:
        return str(self.host_key.get_fingerprint("sha256"))

    @property
    def client_key_text(self) -> str:
        return str(self.client_key.export_private_key("openssh").decode())

    # -------------------------------------------------------------- lifecycle

    def start(self) -> SftpTestServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="sftp-test", daemon=True)
        self._thread.start()
        self._acceptor = asyncio.run_coroutine_threadsafe(self._listen(), loop).result(30)
        self.port = int(self._acceptor.get_port())
        return self

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            for connection in list(self._connections):
                connection.close()
                await connection.wait_closed()
            # let the transports run their connection_lost callbacks before the loop stops
            for _ in range(3):
                await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(30)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def __enter__(self) -> SftpTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- server

    async def _listen(self) -> Any:
        return await asyncssh.create_server(
            lambda: _Auth(self),
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            sftp_factory=lambda chan: _Sftp(chan, self),
            allow_scp=False,
        )

    def denied(self, path: bytes, *, write: bool) -> bool:
        virtual = _norm(path.decode("utf-8", "replace"))
        rules = self.deny + (self.read_only if write else ())
        return any(virtual == rule or virtual.startswith(rule + "/") for rule in rules)


class _Auth(asyncssh.SSHServer):
    def __init__(self, server: SftpTestServer) -> None:
        self.server = server
        self.connection: Any = None

    def connection_made(self, conn: Any) -> None:
        self.connection = conn
        self.server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self.connection)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = username == PASSWORD_USER and password == PASSWORD
        self.server.logins += ok
        return ok

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        expected = self.server.client_key.export_public_key()
        ok = username == KEY_USER and key.export_public_key() == expected
        self.server.logins += ok
        return ok


class _Sftp(asyncssh.SFTPServer):
    """Chrooted to the server's root, with the deny / read-only rules applied."""

    def __init__(self, chan: Any, server: SftpTestServer) -> None:
        super().__init__(chan, chroot=str(server.root).encode())
        self.server = server

    def _check(self, path: bytes, *, write: bool) -> None:
        if self.server.denied(path, write=write):
            raise asyncssh.SFTPPermissionDenied("Permission denied")

    def map_path(self, path: bytes) -> bytes:
        self._check(path, write=False)
        return bytes(super().map_path(path))

    def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
        self._check(path, write=bool(pflags & _WRITE_FLAGS))
        return super().open(path, pflags, attrs)

    def remove(self, path: bytes) -> Any:
        self._check(path, write=True)
        return super().remove(path)

    def rename(self, oldpath: bytes, newpath: bytes) -> Any:
        if self.server.fail_renames:
            raise asyncssh.SFTPFailure("No space left on device")
        self._check(oldpath, write=True)
        self._check(newpath, write=True)
        return super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
        if not self.server.posix_rename:
            raise asyncssh.SFTPOpUnsupported("posix-rename not supported")
        if self.server.fail_renames:
            raise asyncssh.SFTPFailure("No space left on device")
        self._check(oldpath, write=True)
        self._check(newpath, write=True)
        return super().posix_rename(oldpath, newpath)


def _norm(path: str) -> str:
    return posixpath.normpath(posixpath.join("/", path)).lstrip("/")


# ------------------------------------------------------------------ sap_idoc test helpers

IDOC_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sap" / "idoc"
FOLDERS = ("inbound", "archive", "error", "outbound", "processed")


def make_folders(root: Path) -> Path:
    """The server-side folders the sap_idoc settings name; returns `root`."""
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root


def drop(root: Path, name: str, data: bytes | str, *, age: float = 60.0) -> Path:
    """Put a file into inbound/ as if SAP wrote it `age` seconds ago."""
    path = root / "inbound" / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def drop_fixture(root: Path, name: str, *, age: float = 60.0) -> Path:
    return drop(root, name, (IDOC_FIXTURES / name).read_bytes(), age=age)


def idoc_config(server: SftpTestServer, **overrides: Any) -> dict[str, Any]:
    """A sap_idoc config for `server` (password login, host key pinned)."""
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": PASSWORD_USER,
        "password": PASSWORD,
        "host_keys": server.host_key_line,
        "inbound_dir": "/inbound",
        "archive_dir": "/archive",
        "error_dir": "/error",
        "outbound_dir": "/outbound",
        "sender": {"port": "L2CHUB", "partner_type": "LS", "partner_number": "L2CHUB"},
        "receiver": {"port": "SAPS4H", "partner_type": "LS", "partner_number": "S4HCLNT100"},
        "sap_client": "100",
        "timeout_seconds": 10,
    }
    config.update(overrides)
    return config
