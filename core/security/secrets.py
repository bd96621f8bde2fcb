"""Connection secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

`L2C_SECRET_KEY` holds one or more keys, comma-separated, newest first: MultiFernet
encrypts with the first and decrypts with any, so keys rotate without downtime
(`rotate` re-encrypts a token under the newest key).
"""

from __future__ import annotations

from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import ConfigError

REDACTED = "********"


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts JSON documents of secret settings."""

    def __init__(self, keys: SecretStr | str | None) -> None:
        raw = keys.get_secret_value() if isinstance(keys, SecretStr) else keys
        if not raw:
            raise ConfigError(
                "L2C_SECRET_KEY is not set, so secrets cannot be stored",
                hint="generate one with `l2c secret-key` and export L2C_SECRET_KEY",
            )
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in raw.split(",") if k.strip()])
        except ValueError:
            raise ConfigError(
                "L2C_SECRET_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)",
                hint="generate one with `l2c secret-key`",
            ) from None

    def encrypt(self, document: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(orjson.dumps(document))

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            value: dict[str, Any] = orjson.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise ConfigError(
                "stored secrets cannot be decrypted with L2C_SECRET_KEY",
                hint="the key changed: put the old key after the new one in L2C_SECRET_KEY",
            ) from None
        return value

    def rotate(self, token: bytes) -> bytes:
        return self._fernet.rotate(token)
