"""Security: device identity and auth (tokens); later signed bundles, DP, robust aggregation.

Depends on nothing in tinylarge but ``errors``, so every other package may import it.
"""

from tinylarge.secure.tokens import (
    ExpiredTokenError,
    TokenAuthority,
    TokenClaims,
    TokenError,
    issue_token,
    new_secret,
    read_secret,
    verify_token,
    write_secret,
)

__all__ = [
    "ExpiredTokenError",
    "TokenAuthority",
    "TokenClaims",
    "TokenError",
    "issue_token",
    "new_secret",
    "read_secret",
    "verify_token",
    "write_secret",
]
