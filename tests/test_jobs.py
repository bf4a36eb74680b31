"""Durable jobs: enqueued with the change that needs them, run once, retried with backoff."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, update

from gumshoe import jobs as jobs_module
from gumshoe.jobs import MAX_BACKOFF_MS, JobRunner, enqueue
from gumshoe.store.db import ControlStore
from gumshoe.store.schema import jobs, meta

T0 = 2_000_000_000_000


class Clock:
    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    monkeypatch.setattr(jobs_module, "now_ms", c)
    return c


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def stores(url: str) -> Iterator[list[ControlStore]]:
    made: list[ControlStore] = []
    yield made
    for s in made:
        s.close()


def open_store(stores: list[ControlStore], url: str) -> ControlStore:
    store = ControlStore(url)
    stores.append(store)
    return store


@pytest.fixture
def store(stores: list[ControlStore], url: str) -> ControlStore:
    return open_store(stores, url)


def mark(conn: Connection, key: str) -> None:
    """A visible effect of a job, in the job's transaction."""
    conn.execute(insert(meta).values(key=key, value="1"))


def marks(store: ControlStore, prefix: str) -> list[str]:
    with store.read() as conn:
        return sorted(k for (k,) in conn.execute(select(meta.c.key).where(meta.c.key.like(prefix + "%"))))


def job_rows(store: ControlStore) -> list[Any]:
    with store.read() as conn:
        return conn.execute(select(jobs).order_by(jobs.c.id)).all()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, conn: Connection, payload: dict[str, Any], now: int) -> None:
        with self.lock:
            self.calls.append(payload)
        mark(conn, f"done-{payload['n']}")


def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)
    with pytest.raises(RuntimeError), store.write() as conn:
        mark(conn, "change")
        enqueue(conn, "work", {"n": 1})
        raise RuntimeError("the change fails")
    assert runner.pending() == 0
    assert runner.next_due_ms() is None
    clock.now += 3_600_000
    assert runner.run_due() == 0
    assert recorder.calls == []
    assert marks(store, "change") == []


def test_a_job_commits_with_its_change(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)
    with store.write() as conn:
        mark(conn, "change")
        enqueue(conn, "work", {"n": 1})
    assert runner.pending() == 1
    assert runner.run_due() == 1
    assert recorder.calls == [{"n": 1}]
    assert marks(store, "done-") == ["done-1"]
    assert runner.pending() == 0


def test_a_delayed_job_waits_until_due(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)
    with store.write() as conn:
        enqueue(conn, "work", {"n": 1}, delay=2.0)
    assert runner.next_due_ms() == T0 + 2000
    clock.now = T0 + 1999
    assert runner.run_due() == 0
    clock.now = T0 + 2000
    assert runner.run_due() == 1
    assert recorder.calls == [{"n": 1}]


def test_jobs_run_in_due_order(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)
    with store.write() as conn:
        enqueue(conn, "work", {"n": 3}, delay=3)
        enqueue(conn, "work", {"n": 1}, delay=1)
        enqueue(conn, "work", {"n": 2}, delay=2)
        enqueue(conn, "work", {"n": 4}, delay=3)  # same due time: enqueue order
    clock.now = T0 + 10_000
    assert runner.run_due() == 4
    assert [c["n"] for c in recorder.calls] == [1, 2, 3, 4]


def test_run_due_limit(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)
    with store.write() as conn:
        for n in range(5):
            enqueue(conn, "work", {"n": n})
    assert runner.run_due(limit=2) == 2
    assert runner.pending() == 3
    assert runner.run_due() == 3
    assert sorted(c["n"] for c in recorder.calls) == [0, 1, 2, 3, 4]


def test_a_failing_job_is_retried_with_backoff_and_its_error_kept(store, clock):
    runner = JobRunner(store)
    attempts: list[int] = []

    def flaky(conn: Connection, payload: dict[str, Any], now: int) -> None:
        attempts.append(now)
        mark(conn, f"try-{len(attempts)}")  # rolled back with the failure
        if len(attempts) < 3:
            raise RuntimeError(f"boom {len(attempts)}")
        mark(conn, "done")

    runner.register("flaky", flaky)
    with store.write() as conn:
        enqueue(conn, "flaky", {"n": 1})

    assert runner.run_due() == 0
    [row] = job_rows(store)
    assert row.attempts == 1
    assert "boom 1" in row.last_error and "RuntimeError" in row.last_error
    assert row.due_ms == T0 + 1000
    assert marks(store, "try-") == []  # the failed attempt left nothing behind

    clock.now = T0 + 999
    assert runner.run_due() == 0
    assert len(attempts) == 1  # not due yet

    clock.now = T0 + 1000
    assert runner.run_due() == 0
    [row] = job_rows(store)
    assert row.attempts == 2
    assert "boom 2" in row.last_error
    assert row.due_ms == T0 + 1000 + 2000  # the backoff doubles

    clock.now = T0 + 3000
    assert runner.run_due() == 1
    assert job_rows(store) == []
    assert marks(store, "try-") == ["try-3"]
    assert marks(store, "done") == ["done"]
    assert len(attempts) == 3


def test_the_backoff_is_capped(store, clock):
    runner = JobRunner(store)

    def failing(conn: Connection, payload: dict[str, Any], now: int) -> None:
        raise ValueError("always")

    runner.register("failing", failing)
    with store.write() as conn:
        enqueue(conn, "failing", {})
        conn.execute(update(jobs).values(attempts=30))
    runner.run_due()
    [row] = job_rows(store)
    assert row.attempts == 31
    assert row.due_ms == T0 + MAX_BACKOFF_MS


def test_a_failing_job_does_not_stop_the_others(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)

    def failing(conn: Connection, payload: dict[str, Any], now: int) -> None:
        mark(conn, "partial")
        raise RuntimeError("nope")

    runner.register("failing", failing)
    with store.write() as conn:
        enqueue(conn, "work", {"n": 1})
        enqueue(conn, "failing", {})
        enqueue(conn, "work", {"n": 2})
        enqueue(conn, "unknown-kind", {})
    assert runner.run_due() == 2
    assert marks(store, "done-") == ["done-1", "done-2"]
    assert marks(store, "partial") == []
    rows = {r.kind: r for r in job_rows(store)}
    assert set(rows) == {"failing", "unknown-kind"}
    assert rows["failing"].attempts == 1 and "nope" in rows["failing"].last_error
    assert rows["unknown-kind"].attempts == 1 and "unknown-kind" in rows["unknown-kind"].last_error


def test_a_job_runs_once_when_run_due_is_called_twice(store, clock):
    runner = JobRunner(store)
    recorder = Recorder()
    runner.register("work", recorder)
    with store.write() as conn:
        enqueue(conn, "work", {"n": 1})
    assert runner.run_due() == 1
    assert runner.run_due() == 0
    assert recorder.calls == [{"n": 1}]


def test_jobs_run_once_with_two_runners_on_one_database(stores, url, clock):
    first, second = open_store(stores, url), open_store(stores, url)
    recorder = Recorder()
    runners = [JobRunner(first), JobRunner(second), JobRunner(first), JobRunner(second)]
    for r in runners:
        r.register("work", recorder)
    with first.write() as conn:
        for n in range(60):
            enqueue(conn, "work", {"n": n})
    barrier = threading.Barrier(len(runners))
    ran = [0] * len(runners)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                ran[i] += runners[i].run_due(limit=7)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(runners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    while runners[0].run_due():
        pass
    assert sorted(c["n"] for c in recorder.calls) == list(range(60))
    assert len(marks(first, "done-")) == 60
    assert runners[0].pending() == 0


def test_jobs_survive_a_new_control_store(stores, url, clock):
    first = open_store(stores, url)
    with first.write() as conn:
        enqueue(conn, "work", {"n": 7}, delay=5)
        enqueue(conn, "failing", {"n": 8})
    failing_runner = JobRunner(first)

    def fail(conn: Connection, payload: dict[str, Any], now: int) -> None:
        raise RuntimeError("first life")

    failing_runner.register("failing", fail)
    failing_runner.run_due()
    secret = first.token_secret
    first.close()

    second = open_store(stores, url)
    assert second.token_secret == secret
    runner = JobRunner(second)
    recorder = Recorder()
    runner.register("work", recorder)
    runner.register("failing", recorder)
    assert runner.pending() == 2
    with second.read() as conn:
        failed = conn.execute(select(jobs).where(jobs.c.kind == "failing")).one()
    assert failed.attempts == 1 and "first life" in failed.last_error
    clock.now = T0 + 4999
    assert runner.run_due() == 1  # the retry (due T0 + 1000); the delayed job is not due yet
    clock.now = T0 + 5000
    assert runner.run_due() == 1
    assert [c["n"] for c in recorder.calls] == [8, 7]
    assert marks(second, "done-") == ["done-7", "done-8"]
    with second.read() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar() == 0
