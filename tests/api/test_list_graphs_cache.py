"""ListGraphs answers are reused only while the database is unchanged: any commit, by this
process or another, is seen by the next call."""

from __future__ import annotations

import sqlite3

from api_harness import ADMIN, OTHER_ADMIN, REGION, Env

from gumshoe.api import graphs as graphs_api


def arns(env: Env, account: str = ADMIN, **params: object) -> list[str]:
    return [g["Arn"] for g in env.call(graphs_api.list_graphs, account, dict(params))["GraphList"]]


def test_answers_follow_every_change(env: Env) -> None:
    assert arns(env) == []
    first = env.graph(ADMIN)
    assert arns(env) == [first]
    assert arns(env) == [first]  # the same answer again, from the cache
    assert arns(env, MaxResults=1) == [first]
    assert arns(env, OTHER_ADMIN) == []
    # Commits from another connection (another process looks the same).
    other = f"arn:aws:detective:{REGION}:{OTHER_ADMIN}:graph:" + "f" * 32
    with sqlite3.connect(env.tmp_path / "control.db") as conn:
        conn.execute("INSERT INTO graphs (arn, administrator_id, region, created_ms, is_organization_graph, "
                     "auto_enable) VALUES (?, ?, ?, 1, 0, 0)", (other, OTHER_ADMIN, REGION))
    assert arns(env, OTHER_ADMIN) == [other]
    with sqlite3.connect(env.tmp_path / "control.db") as conn:
        conn.execute("DELETE FROM graphs WHERE arn = ?", (first,))
    assert arns(env) == [] and arns(env, MaxResults=1) == []
    again = env.graph(ADMIN)  # and through the API itself
    assert arns(env) == [again]
    env.call(graphs_api.delete_graph, ADMIN, {"GraphArn": again})
    assert arns(env) == []
