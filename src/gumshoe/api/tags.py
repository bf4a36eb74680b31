"""TagResource, UntagResource, ListTagsForResource (behavior graphs are the taggable resource)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from gumshoe.api._context import Context
from gumshoe.api._graphs import administered_graph
from gumshoe.errors import ValidationException
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import graph_tags

# Detective: up to 50 tags on a behavior graph.
MAX_TAGS_PER_GRAPH = 50


def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["ResourceArn"]
    tags: dict[str, str] = params["Tags"]
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        existing = {k for (k,) in conn.execute(select(graph_tags.c.key).where(graph_tags.c.graph_arn == arn))}
        total = len(existing | set(tags))
        if total > MAX_TAGS_PER_GRAPH:
            raise ValidationException(
                f"A behavior graph can have at most {MAX_TAGS_PER_GRAPH} tags; this request would leave it with {total}.",
                error_code="INVALID_REQUEST_BODY",
            )
        for key, value in tags.items():
            if key in existing:
                conn.execute(
                    update(graph_tags).where(graph_tags.c.graph_arn == arn, graph_tags.c.key == key).values(value=value)
                )
            else:
                conn.execute(insert(graph_tags).values(graph_arn=arn, key=key, value=value))
    return {}


def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["ResourceArn"]
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        conn.execute(delete(graph_tags).where(graph_tags.c.graph_arn == arn, graph_tags.c.key.in_(params["TagKeys"])))
    return {}


def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["ResourceArn"]
    with ctx.store.read() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        rows = conn.execute(
            select(graph_tags.c.key, graph_tags.c.value).where(graph_tags.c.graph_arn == arn).order_by(graph_tags.c.key)
        ).all()
    return {"Tags": {k: v for k, v in rows}}


