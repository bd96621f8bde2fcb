"""The SFTP side: a paramiko session with the server's host key pinned from the settings.

Trust comes from the settings only. The client's known hosts are a `HostKeys`
object filled from ``host_keys`` (never ``~/.ssh/known_hosts``, never saved), and a
server whose key is not among them is refused by a `RejectPolicy`: a mismatch
raises ConfigError(field="host_keys") showing the key type and SHA256 fingerprint
the server offered, so the user can check it with the server's administrator and
paste it. There is no "connect anyway".

Errors, by who must act: a refused login, a missing folder or a denied permission
is a ConfigError naming the setting; an unreachable server, a timeout or a dropped
connection a TransientError (the run is retried).
"""

from __future__ import annotations

import errno
import io
import posixpath
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from connectors.sap.idoc.config import IdocConfig
from connectors.sap.idoc.hostkeys import describe_key, parse_host_keys
from connectors.sdk.errors import ConfigError, ConnectorError, TransientError
from connectors.sdk.network import open_socket

__all__ = ["RemoteFile", "SftpSession", "connect", "load_private_key"]

_HOST_KEY_HINT = (
    "ask the server's administrator for its key fingerprint (`ssh-keygen -lf "
    "/etc/ssh/ssh_host_ed25519_key.pub` on the server); if it matches, paste the server's "
    "public key into host_keys. If it does not, someone may be intercepting the connection"
)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    path: str
    size: int
    mtime: int


class _UnknownHostKeyError(paramiko.SSHException):  # type: ignore[misc]
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"host key for {hostname} not pinned")
        self.key = key


class _RefuseUnpinned(paramiko.RejectPolicy):  # type: ignore[misc]
    """RejectPolicy that keeps the offered key, for the message. Never adds a key."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise _UnknownHostKeyError(hostname, key)


def load_private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    """A paramiko key from OpenSSH or PEM private-key text; ConfigError naming the setting."""
    data = text.strip().encode() + b"\n"
    secret = passphrase.encode() if passphrase else None
    try:
        try:
            loaded: Any = serialization.load_ssh_private_key(data, password=secret)
        except ValueError as ssh_error:
            if b"OPENSSH PRIVATE KEY" in data:
                raise ssh_error
            loaded = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        field, problem = (
            ("private_key_passphrase", "the private key is encrypted: set its passphrase")
            if not passphrase
            else ("private_key_passphrase", "the private key is not encrypted: clear it")
        )
        raise ConfigError(problem, field=field) from None
    except (ValueError, paramiko.SSHException):
        field = "private_key_passphrase" if passphrase else "private_key"
        raise ConfigError(
            "the private key cannot be read (wrong passphrase, or not a private key)",
            field=field,
            hint="paste the whole key, -----BEGIN ... PRIVATE KEY----- to -----END ...-----",
        ) from None
    key_class: type[paramiko.PKey]
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise ConfigError(
            f"private key type {type(loaded).__name__} is not supported",
            field="private_key",
            hint="use an Ed25519, ECDSA or RSA key",
        )
    try:
        return key_class.from_private_key(io.StringIO(data.decode()), password=passphrase)
    except paramiko.SSHException:
        raise ConfigError(
            "the private key cannot be read by the SSH client",
            field="private_key",
            hint="convert it with `ssh-keygen -p -f KEY` (OpenSSH format)",
        ) from None


class SftpSession:
    """An open SFTP session; every method raises the connector error taxonomy only."""

    def __init__(self, client: paramiko.SSHClient, sftp: paramiko.SFTPClient, host_key: str):
        self._client = client
        self.sftp = sftp
        self.host_key = host_key
        """``ssh-ed25519 SHA256:...`` of the (verified) server key."""

    def close(self) -> None:
        try:
            self.sftp.close()
        finally:
            self._client.close()

    # -------------------------------------------------------------- listing

    def list_files(self, folder: str, *, setting: str) -> list[RemoteFile]:
        """Regular files of `folder`, sorted by name."""
        try:
            entries = self.sftp.listdir_attr(folder)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="list", path=folder, setting=setting, folder=True)
        files = [
            RemoteFile(
                name=entry.filename,
                path=posixpath.join(folder, entry.filename),
                size=int(entry.st_size or 0),
                mtime=int(entry.st_mtime or 0),
            )
            for entry in entries
            if entry.st_mode is None or stat.S_ISREG(entry.st_mode)
        ]
        return sorted(files, key=lambda f: f.name)

    def is_dir(self, folder: str, *, setting: str) -> bool:
        try:
            return stat.S_ISDIR(self.sftp.stat(folder).st_mode or 0)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                return False
            _raise(exc, action="open", path=folder, setting=setting, folder=True)
        except (paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="open", path=folder, setting=setting, folder=True)

    def exists(self, path: str, *, setting: str) -> bool:
        try:
            self.sftp.stat(path)
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                return False
            _raise(exc, action="look up", path=path, setting=setting)
        except (paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="look up", path=path, setting=setting)
        return True

    # -------------------------------------------------------------- files

    def read(self, path: str, *, setting: str) -> bytes:
        try:
            with self.sftp.open(path, "rb") as handle:
                handle.prefetch()
                data: bytes = handle.read()
        except (OSError, paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="read", path=path, setting=setting)
        return data

    def write(self, path: str, data: bytes, *, setting: str) -> None:
        """Write `data` to `path` (created or truncated) and wait until the server has it."""
        try:
            with self.sftp.open(path, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="write", path=path, setting=setting)

    def remove(self, path: str, *, setting: str, missing_ok: bool = True) -> None:
        try:
            self.sftp.remove(path)
        except OSError as exc:
            if missing_ok and getattr(exc, "errno", None) == errno.ENOENT:
                return
            _raise(exc, action="remove", path=path, setting=setting)
        except (paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="remove", path=path, setting=setting)

    def replace(self, source: str, target: str, *, setting: str) -> None:
        """Rename `source` to `target`, replacing it if present.

        OpenSSH's posix-rename swaps the file in atomically; a server without that
        extension gets remove-then-rename (plain SFTP rename refuses to overwrite).
        Servers word "unsupported" differently, so any posix-rename failure other than
        a missing file or a denied permission falls back; if the fallback fails too,
        its error is raised.
        """
        try:
            self.sftp.posix_rename(source, target)
            return
        except OSError as exc:
            if getattr(exc, "errno", None) in (errno.EACCES, errno.ENOENT):
                _raise(exc, action="rename", path=source, setting=setting)
        except (paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="rename", path=source, setting=setting)
        self.remove(target, setting=setting)
        try:
            self.sftp.rename(source, target)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            _raise(exc, action="rename", path=source, setting=setting)


@contextmanager
def connect(settings: IdocConfig) -> Iterator[SftpSession]:
    """An SFTP session to the configured server, host key verified; closed on exit."""
    pinned = parse_host_keys(settings.host_keys)
    pkey = (
        load_private_key(settings.private_key, settings.private_key_passphrase)
        if settings.private_key
        else None
    )
    client = paramiko.SSHClient()
    lookup = settings.host if settings.port == 22 else f"[{settings.host}]:{settings.port}"
    known = client.get_host_keys()
    for key in pinned:
        known.add(lookup, key.get_name(), key)
    client.set_missing_host_key_policy(_RefuseUnpinned())
    where = f"{settings.host}:{settings.port}"
    try:
        # through the hub's network when it runs us: vetted against SSRF rules and pinned
        sock = open_socket(settings.host, settings.port, settings.timeout_seconds)
        client.connect(
            settings.host,
            port=settings.port,
            sock=sock,
            username=settings.username,
            password=settings.password,
            pkey=pkey,
            timeout=settings.timeout_seconds,
            banner_timeout=settings.timeout_seconds,
            auth_timeout=settings.timeout_seconds,
            channel_timeout=settings.timeout_seconds,
            look_for_keys=False,
            allow_agent=False,
        )
        transport = client.get_transport()
        offered = transport.get_remote_server_key() if transport is not None else None
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(settings.timeout_seconds)
    except BaseException as exc:
        client.close()
        if isinstance(exc, Exception):
            _raise_connect(exc, settings, where, pinned)
        raise
    session = SftpSession(client, sftp, describe_key(offered) if offered else "")
    try:
        yield session
    finally:
        session.close()


def _raise_connect(
    exc: Exception, settings: IdocConfig, where: str, pinned: list[paramiko.PKey]
) -> NoReturn:
    if isinstance(exc, paramiko.BadHostKeyException | _UnknownHostKeyError):
        offered = describe_key(exc.key)
        expected = ", ".join(describe_key(key) for key in pinned)
        raise ConfigError(
            f"{where} offered host key {offered}, which is not pinned in host_keys "
            f"(pinned: {expected}); not connecting",
            field="host_keys",
            hint=_HOST_KEY_HINT,
            offered=offered,
        ) from None
    if isinstance(exc, paramiko.AuthenticationException):
        field = "private_key" if settings.private_key and not settings.password else "password"
        raise ConfigError(
            f"{where} refused the login of user {settings.username!r}",
            field=field,
            hint="check username and password or private key (the key's public half must "
            "be in the user's authorized_keys)",
        ) from None
    if isinstance(exc, socket.gaierror):
        raise ConfigError(
            f"SFTP host {settings.host!r} does not resolve",
            field="host",
            hint="check the host name (or use the server's IP address)",
        ) from None
    if isinstance(exc, ConnectorError) or getattr(exc, "category", None) == "config":
        raise exc  # ours, or the hub refusing the address (SSRF guard)
    if isinstance(exc, paramiko.ChannelException | paramiko.SSHException) and "subsystem" in str(
        exc
    ):
        raise ConfigError(
            f"{where} accepted the login but offers no SFTP",
            field="host",
            hint="enable the sftp subsystem for this user on the server",
        ) from None
    raise TransientError(
        f"cannot reach SFTP server {where}: {_reason(exc)}",
        hint="check that the server is up and reachable from the hub; the run is retried",
    ) from None


def _raise(
    exc: BaseException, *, action: str, path: str, setting: str, folder: bool = False
) -> NoReturn:
    code = getattr(exc, "errno", None)
    what = "folder" if folder else "file"
    if code == errno.EACCES or isinstance(exc, PermissionError):
        raise ConfigError(
            f"permission denied: cannot {action} {what} {path}",
            field=setting,
            hint=f"let the SFTP user {action} in that folder, or choose another {setting}",
        ) from None
    if code == errno.ENOENT and folder:
        raise ConfigError(
            f"folder {path} does not exist on the SFTP server",
            field=setting,
            hint="create it or correct the path (relative paths start at the login folder)",
        ) from None
    if code == errno.ENOENT:
        raise TransientError(
            f"{what} {path} vanished while it was being processed",
            hint="another process moves files in this folder; the run is retried",
        ) from None
    raise TransientError(
        f"SFTP {action} {path} failed: {_reason(exc)}",
        hint="the connection or the server had a problem; the run is retried",
    ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
