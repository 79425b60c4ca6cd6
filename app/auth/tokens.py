"""API tokens: high-entropy random strings with a recognisable prefix; only a hash is kept.

A token carries 256 random bits, so a plain SHA-256 is enough to store it (no slow KDF: no
dictionary to attack), and looking a token up by its hash leaks nothing useful through
timing. The ``swp_`` prefix lets secret scanners and log redaction recognise tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "swp_"
_TOKEN_BYTES = 32
# base64url of 32 bytes is 43 characters.
TOKEN_PATTERN = re.compile(r"swp_[A-Za-z0-9_-]{43}")
MAX_PRESENTED_LENGTH = 200


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def well_formed(token: str) -> bool:
    """Cheap shape check before any database lookup (garbage never reaches the index)."""
    return len(token) <= MAX_PRESENTED_LENGTH and TOKEN_PATTERN.fullmatch(token) is not None


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(8)
