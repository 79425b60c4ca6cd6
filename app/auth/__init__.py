"""Access control primitives with no I/O: API tokens, principals, the rate limiter.

The database side (token rows, sweep owners) is in ``app/db/access.py``; the HTTP side
(bearer dependency, ownership checks) in ``app/api/auth.py``.
"""
