"""A forge's HTTP answer as the outcome handlers understand (`handlers.forge`'s errors).

Both forge clients map a failed call here; where one answer means something more precise at
one call site (GitHub's 422 on a ref that may only fast-forward: `BranchMoved`), the adapter
says so itself.
"""

from __future__ import annotations

from handlers.forge import (
    AlreadyExists,
    Forbidden,
    ForgeError,
    NotFound,
    RateLimited,
    Refused,
    Unavailable,
)

_BY_STATUS: dict[int, type[ForgeError]] = {
    400: Refused,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    408: Unavailable,
    409: AlreadyExists,
    410: NotFound,
    422: Refused,
    429: RateLimited,
}


def http_error(
    status: int | None,
    message: str,
    *,
    rate_limited: bool = False,
    retry_after: float | None = None,
) -> ForgeError:
    """The error for an answer with `status` (None: no answer at all)."""
    if rate_limited:
        kind: type[ForgeError] = RateLimited
    elif status is None or status >= 500:
        kind = Unavailable
    else:
        kind = _BY_STATUS.get(status, ForgeError)
    return kind(message, retry_after=retry_after)
