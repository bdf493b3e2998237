"""Password hashing with the standard library's scrypt (RFC 7914), salted per user, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

MIN_LENGTH = 10
# Interactive-login cost: about 50 ms and 16 MB per check on a server core.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
SCHEME = "scrypt"


class WeakPassword(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    """"scrypt$n$r$p$salt$key", so the cost can be raised later without breaking stored hashes."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join([SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
    except ValueError:
        return False
    if scheme != SCHEME:
        return False
    candidate = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(key))


# Checked against when the user does not exist, so that a login takes as long for a wrong name as for a wrong password.
DUMMY_HASH = "$".join(
    [SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(b"\0" * SALT_BYTES), _b64(b"\0" * KEY_BYTES)]
)
