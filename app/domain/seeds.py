"""Seeds derived from (sweep seed, trial index, purpose): no hidden global RNG state."""

from __future__ import annotations

import hashlib


def derive_seed(sweep_seed: int, trial_index: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{sweep_seed}:{trial_index}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
