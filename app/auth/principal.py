"""Who is calling: the principal a token belongs to, and what the token may do."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Principal names own sweeps. They are names, not row ids, on purpose: the owner is also
# written into each sweep workflow's memo, so after the index database is lost, recreating
# a token for the same name (and `sweeps reindex`) gives the principal its sweeps back.
PRINCIPAL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_NAME = re.compile(PRINCIPAL_NAME_PATTERN)

ANONYMOUS_NAME = "anonymous"


@dataclass(frozen=True)
class Principal:
    name: str
    admin: bool
    token_id: str | None  # None only when authentication is off

    @property
    def rate_key(self) -> str:
        """Rate limits are per token (a principal's CI and laptop tokens do not share)."""
        return self.token_id or self.name


# Authentication turned off (SWEEPS_AUTH_ENABLED=false): one implicit admin owns everything.
ANONYMOUS = Principal(name=ANONYMOUS_NAME, admin=True, token_id=None)


def check_principal_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            "a principal name is 1-64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name
