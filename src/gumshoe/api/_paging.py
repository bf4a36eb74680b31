"""Keyset pagination over a query, with tokens bound to caller, Region and query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Select, bindparam, tuple_

from gumshoe.api._context import Context
from gumshoe.pagination import DEFAULT_PAGE_SIZE, invalid_token
from gumshoe.store.queries import Query, Snapshot


def page_list(
    ctx: Context, items: list[Any], params: dict[str, Any], *, binding: tuple[str, ...], default_size: int = DEFAULT_PAGE_SIZE
) -> tuple[list[Any], str | None]:
    """Pagination over a small in-memory sequence in a stable order (offset keyed)."""
    limit = params.get("MaxResults") or default_size
    bind = _bind(ctx, binding)
    start = 0
    token = params.get("NextToken")
    if token:
        after = ctx.services.tokens.decode(token, bind)
        if len(after) != 1 or not isinstance(after[0], int) or after[0] < 0:
            raise invalid_token()
        start = after[0]
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, ctx.services.tokens.encode(bind, [start + limit]) if more else None


class PagedQuery:
    """A keyset-paginated prepared query: the first page, and the pages after a key."""

    def __init__(self, query: Select[Any], keys: tuple[Column[Any], ...]) -> None:
        self.key_names = tuple(k.name for k in keys)
        after = tuple_(*keys) > tuple_(*(bindparam(f"after_{k.name}") for k in keys))
        self.first = Query(query.order_by(*keys).limit(bindparam("page_limit")))
        self.after = Query(query.where(after).order_by(*keys).limit(bindparam("page_limit")))


def _bind(ctx: Context, binding: tuple[str, ...]) -> tuple[str, ...]:
    return (ctx.caller.account_id, ctx.caller.region, *binding)


def token_keys(ctx: Context, params: dict[str, Any], binding: tuple[str, ...], n_keys: int) -> list[Any] | None:
    """The sort keys a NextToken carries (None on a first page)."""
    token = params.get("NextToken")
    if not token:
        return None
    after = ctx.services.tokens.decode(token, _bind(ctx, binding))
    if len(after) != n_keys:
        raise invalid_token()
    return after


def next_token(ctx: Context, binding: tuple[str, ...], keys: list[Any]) -> str:
    return ctx.services.tokens.encode(_bind(ctx, binding), keys)


def page_prepared(
    ctx: Context,
    snap: Snapshot,
    paged: PagedQuery,
    params: dict[str, Any],
    *,
    binding: tuple[str, ...],
    default_size: int = DEFAULT_PAGE_SIZE,
    **query_params: Any,
) -> tuple[list[Any], str | None]:
    limit = params.get("MaxResults") or default_size
    after = token_keys(ctx, params, binding, len(paged.key_names))
    if after is not None:
        keys = {f"after_{name}": value for name, value in zip(paged.key_names, after, strict=True)}
        rows = snap.all(paged.after, page_limit=limit + 1, **query_params, **keys)
    else:
        rows = snap.all(paged.first, page_limit=limit + 1, **query_params)
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, next_token(ctx, binding, [getattr(last, name) for name in paged.key_names])
