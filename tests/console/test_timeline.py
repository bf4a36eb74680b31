"""Charts over a time axis (console/timeline.py): where times fall, the UTC ticks, a Gantt
chart's lanes packed without overlaps, and a stacked bar chart's counts."""

from __future__ import annotations

import datetime as dt

import pytest

from gumshoe.console import timeline
from gumshoe.console.timeline import DAY_MS, HOUR_MS, MINUTE_MS, Axis, Item, Span

T0 = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)  # a midnight, UTC


def test_times_fall_on_the_axis_and_outside_times_on_its_ends() -> None:
    axis = Axis(T0, T0 + 10 * HOUR_MS, left=100, width=1000)
    assert axis.x(T0) == 100 and axis.x(T0 + 5 * HOUR_MS) == 600 and axis.x(T0 + 10 * HOUR_MS) == 1100
    assert axis.x(T0 - DAY_MS) == 100 and axis.x(T0 + DAY_MS) == 1100


@pytest.mark.parametrize(("span", "most", "step"), [
    (HOUR_MS, 48, 5 * MINUTE_MS), (HOUR_MS, 4, 15 * MINUTE_MS), (DAY_MS, 8, 3 * HOUR_MS), (DAY_MS, 48, 30 * MINUTE_MS),
    (30 * DAY_MS, 8, 7 * DAY_MS), (3650 * DAY_MS, 8, 30 * DAY_MS),
])
def test_the_step_is_the_smallest_that_keeps_the_count(span: int, most: int, step: int) -> None:
    assert timeline.step_for(span, most) == step


def test_ticks_are_whole_utc_times_with_the_date_where_the_day_changes() -> None:
    axis = Axis(T0 - 7 * HOUR_MS - 20 * MINUTE_MS, T0 + 17 * HOUR_MS)  # from 16:40 the day before
    ticks = axis.ticks()
    assert [t.label for t in ticks] == ["02-28 18:00", "03-01 00:00", "06:00", "12:00"]
    assert all(axis.left <= t.x <= axis.right for t in ticks)
    assert [t.label for t in Axis(T0 + 30 * MINUTE_MS, T0 + 4 * HOUR_MS).ticks()] == [
        "03-01 00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30", "04:00"]
    week = Axis(T0, T0 + 7 * DAY_MS).ticks()
    assert [t.label for t in week][:2] == ["2026-03-01", "03-02"]
    assert timeline.step_label(HOUR_MS) == "hour" and timeline.step_label(5 * MINUTE_MS) == "5 minutes"
    assert timeline.step_label(2 * DAY_MS) == "2 days"


def test_lanes_follow_the_order_and_pack_overlapping_items_into_rows() -> None:
    axis = Axis(T0, T0 + 10 * HOUR_MS)
    items = [
        Item("Discovery", T0 + HOUR_MS, T0 + 3 * HOUR_MS, "ec2:DescribeInstances", "t1", "a1"),
        Item("Discovery", T0 + 2 * HOUR_MS, T0 + 2 * HOUR_MS, "s3:ListBuckets", "t2", "a2"),  # overlaps the first
        Item("Discovery", T0 + 9 * HOUR_MS, T0 + 9 * HOUR_MS, "sts:GetCallerIdentity", "t3", "a3"),
        Item("Persistence", T0 + 4 * HOUR_MS, T0 + 5 * HOUR_MS, "iam:CreateUser", "t4", "a4"),
        Item("Zzz", T0, T0, "x", "t5", "a5"),
    ]
    chart = timeline.lanes(items, axis, order=("Persistence", "Discovery"))
    assert [lane.label for lane in chart.lanes] == ["Persistence", "Discovery", "Zzz"]  # the others after, by name
    discovery = chart.lanes[1]
    first, second, third = discovery.bars
    assert first.y != second.y  # they overlap in time: two rows
    assert third.y == first.y  # room after the first one's label
    assert discovery.height == 2 * timeline.ROW_HEIGHT + 6 and chart.lanes[0].height == timeline.ROW_HEIGHT + 6
    assert chart.lanes[1].y == chart.lanes[0].y + chart.lanes[0].height
    # A moment is a bar of the minimum width; a label that would run off the right goes left.
    assert second.width == timeline.MIN_BAR
    assert third.label_end and third.label_x < third.x and not first.label_end
    assert first.x == axis.x(T0 + HOUR_MS) and first.width == round(axis.x(T0 + 3 * HOUR_MS) - first.x, 1)
    assert chart.count == 5 and chart.height > chart.plot_bottom
    assert [b.anchor for lane in chart.lanes for b in lane.bars] == ["a4", "a1", "a2", "a3", "a5"]


def test_stacked_bars_count_what_is_active_in_each_bin_by_kind() -> None:
    spans = [Span("High", T0, T0 + 2 * HOUR_MS), Span("Low", T0 + HOUR_MS, T0 + HOUR_MS),
             Span("Low", T0 + 3 * HOUR_MS + 5 * MINUTE_MS, T0 + 3 * HOUR_MS + 5 * MINUTE_MS),
             Span("Unknown", T0, T0 + 4 * HOUR_MS)]
    chart = timeline.stacked(spans, T0, T0 + 4 * HOUR_MS, ("High", "Low"), most_bins=4)
    assert chart.step_ms == HOUR_MS
    assert [(b.counts["High"], b.counts["Low"]) for b in chart.bins] == [(1, 0), (1, 1), (1, 0), (0, 1)]
    assert chart.most == 2 and chart.count == 5
    second = chart.bins[1]
    high, low = second.segments
    assert (high.kind, low.kind) == ("High", "Low")
    assert high.y + high.height == chart.plot_bottom and low.y + low.height == high.y  # Low stacked on High
    assert high.height == low.height == round((chart.plot_bottom - chart.plot_top) / 2, 1)
    assert high.title.endswith("UTC: 1 High") and "03-01 01:00" in high.title
    assert [level for _, level in chart.y_ticks] == [0, 2]
    nothing = timeline.stacked([], T0, T0 + HOUR_MS, ("High",))
    assert nothing.count == 0 and nothing.most == 0
