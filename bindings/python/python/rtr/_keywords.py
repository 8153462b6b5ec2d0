"""Keyword-only flags, with a TypeError that says why."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar, cast

_F = TypeVar("_F", bound=Callable[..., Any])


def _c_order(positional: int, usage: str, *, method: bool = True) -> Callable[[_F], _F]:
    """Allow at most ``positional`` positional arguments (not counting
    ``self``), with a TypeError that says why when there are more.

    C's calls take ``(channel, flags, reason, ...)``; the Python calls take
    flags, and what follows them in C, as keywords only. A call ported from
    C positionally, or written for the old Python order ``(channel, reason,
    flags)``, would otherwise change meaning without an error
    (``reject_tx(ch, 0, 1)``: a retry reject?), so it fails loudly."""
    limit = positional + (1 if method else 0)

    def wrap(f: _F) -> _F:
        @functools.wraps(f)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if len(args) > limit:
                raise TypeError(
                    f"{f.__name__}() takes {positional} positional argument{'s' if positional != 1 else ''} "
                    f"but {len(args) - limit + positional} were given: flags, and the arguments that follow "
                    f"them in C, are keyword-only in Python (C's order is channel, flags, reason, ...); "
                    f"call {usage}"
                )
            return f(*args, **kwargs)

        return cast(_F, checked)

    return wrap
