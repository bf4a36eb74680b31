"""Charts over a time axis, laid out here and drawn by the templates as inline SVG (no script,
no markup built from text: the templates escape every label and title).

    Axis(start, end)           x of a time; ticks at whole UTC hours or days
    lanes(items, axis)         a Gantt chart: one lane per group (a tactic), each item a bar
                               from its first to its last time, packed into rows so that
                               neither bars nor their labels overlap
    stacked(items, axis, ...)  a bar chart: items active in each bin, stacked by kind (severity)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
STEPS = (5 * MINUTE_MS, 10 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 2 * HOUR_MS, 3 * HOUR_MS,
         6 * HOUR_MS, 12 * HOUR_MS, DAY_MS, 2 * DAY_MS, 7 * DAY_MS, 14 * DAY_MS, 30 * DAY_MS)
CHART_WIDTH = 1160  # viewBox units: drawn 1:1 in a wide card at 1280 px
LABEL_WIDTH = 180  # the lane labels' column
CHAR_WIDTH = 7.0  # an estimate of a 12 px label's character, to keep labels apart
ROW_HEIGHT = 22
MIN_BAR = 6.0  # a moment is a bar this wide


def step_for(span_ms: int, most: int) -> int:
    """The smallest of STEPS that cuts ``span_ms`` into at most ``most`` parts."""
    return next((s for s in STEPS if span_ms / s <= most), STEPS[-1])


def step_label(step: int) -> str:
    """``hour``, ``5 minutes``, ``day``, ``7 days``: an interval, for "… per <interval>"."""
    for unit, word in ((DAY_MS, "day"), (HOUR_MS, "hour"), (MINUTE_MS, "minute")):
        if step % unit == 0:
            n = step // unit
            return word if n == 1 else f"{n} {word}s"
    return f"{step // 1000} seconds"


def utc_label(ms: int, step: int, first: bool = False) -> str:
    """A tick's label in UTC: the time, with the date where the day changes (or always, for days)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    if step >= DAY_MS:
        return moment.strftime("%Y-%m-%d" if first else "%m-%d")
    if first or (moment.hour == 0 and moment.minute == 0):
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M")


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Axis:
    start_ms: int
    end_ms: int
    left: float = LABEL_WIDTH
    width: float = CHART_WIDTH - LABEL_WIDTH - 20

    @property
    def right(self) -> float:
        return self.left + self.width

    def x(self, ms: int) -> float:
        """Where a time is; times outside the axis sit on its ends."""
        span = max(1, self.end_ms - self.start_ms)
        share = min(1.0, max(0.0, (ms - self.start_ms) / span))
        return round(self.left + share * self.width, 1)

    def ticks(self, most: int = 8) -> list[Tick]:
        step = step_for(self.end_ms - self.start_ms, most)
        first = -(-self.start_ms // step) * step
        return [Tick(self.x(t), utc_label(t, step, first=i == 0))
                for i, t in enumerate(range(first, self.end_ms + 1, step))]


# --- a Gantt chart in lanes -----------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """Something that happened from ``start_ms`` to ``end_ms`` in a group (a TTP in its tactic)."""

    group: str
    start_ms: int
    end_ms: int
    label: str  # shown beside its bar
    title: str  # its tooltip and accessible name
    anchor: str = ""  # the id of its row in the table under the chart


@dataclass
class Bar:
    x: float
    y: float
    width: float
    label: str
    label_x: float
    label_end: bool  # the label stands left of the bar (text-anchor end)
    title: str
    anchor: str
    item: Item


@dataclass
class Lane:
    label: str
    y: float
    height: float
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Lanes:
    axis: Axis
    lanes: list[Lane]
    ticks: list[Tick]
    width: int
    height: int
    plot_top: float
    plot_bottom: float

    @property
    def count(self) -> int:
        return sum(len(lane.bars) for lane in self.lanes)


def _label_width(label: str) -> float:
    return len(label) * CHAR_WIDTH + 8


def lanes(items: Sequence[Item], axis: Axis, order: Sequence[str] = ()) -> Lanes:
    """Items placed on the axis in lanes, one per group (in ``order``, then by name), each lane
    as many rows deep as its items need so that no bar or label covers another. A label goes
    right of its bar, or left when it would run past the chart's right edge."""
    rank = {name: i for i, name in enumerate(order)}
    groups = sorted({i.group for i in items}, key=lambda g: (rank.get(g, len(rank)), g))
    top = 8.0
    y = top
    out = []
    for group in groups:
        rows: list[float] = []  # the right end of what each row holds so far
        lane = Lane(group, y, 0)
        for item in sorted((i for i in items if i.group == group), key=lambda i: (i.start_ms, i.end_ms, i.label)):
            x1 = axis.x(item.start_ms)
            width = max(MIN_BAR, axis.x(item.end_ms) - x1)
            x1 = min(x1, axis.right - width)
            text = _label_width(item.label)
            label_end = x1 + width + text > axis.right + 10
            left = x1 - text if label_end else x1
            right = x1 + width if label_end else x1 + width + text
            row = next((r for r, end in enumerate(rows) if end + 4 <= left), None)
            if row is None:
                rows.append(right)
                row = len(rows) - 1
            else:
                rows[row] = right
            lane.bars.append(Bar(
                x=x1, y=y + row * ROW_HEIGHT + 4, width=round(width, 1), label=item.label,
                label_x=round(x1 - 4 if label_end else x1 + width + 4, 1), label_end=label_end,
                title=item.title, anchor=item.anchor, item=item))
        lane.height = max(1, len(rows)) * ROW_HEIGHT + 6
        y += lane.height
        out.append(lane)
    return Lanes(axis, out, axis.ticks(), CHART_WIDTH, int(y + 40), top, y)


# --- a stacked bar chart --------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Something active from ``start_ms`` to ``end_ms`` (a finding), of a ``kind`` (its severity)."""

    kind: str
    start_ms: int
    end_ms: int


@dataclass
class Segment:
    kind: str
    count: int
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class Bin:
    start_ms: int
    end_ms: int
    counts: dict[str, int]
    segments: list[Segment] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Stacked:
    axis: Axis
    bins: list[Bin]
    ticks: list[Tick]
    y_ticks: list[tuple[float, int]]  # (y, count) of the y axis's lines
    step_ms: int
    most: int  # the tallest bin's count: the top of the y axis
    width: int
    height: int
    plot_top: float
    plot_bottom: float

    @property
    def count(self) -> int:
        return sum(len(b.segments) for b in self.bins)


def stacked(spans: Sequence[Span], start_ms: int, end_ms: int, kinds: Sequence[str], *, most_bins: int = 48,
            height: int = 200) -> Stacked:
    """Bins of a step from STEPS over [start, end) (at most ``most_bins``), each counting the
    spans active in it (start ≤ the bin's end, end ≥ its start) by kind, stacked in ``kinds``'
    order from the bottom."""
    step = step_for(end_ms - start_ms, most_bins)
    first = start_ms // step * step
    last = -(-end_ms // step) * step
    axis = Axis(first, last, left=48, width=CHART_WIDTH - 48 - 20)
    bins = []
    for t in range(first, last, step):
        counts = {k: 0 for k in kinds}
        for span in spans:
            if span.start_ms < t + step and span.end_ms >= t and span.kind in counts:
                counts[span.kind] += 1
        bins.append(Bin(t, t + step, counts))
    most = max((b.total for b in bins), default=0)
    top, bottom = 10.0, float(height - 36)
    scale = (bottom - top) / most if most else 0.0
    for b in bins:
        x1, x2 = axis.x(b.start_ms), axis.x(b.end_ms)
        gap = min(2.0, (x2 - x1) / 4)
        y = bottom
        for kind in kinds:
            n = b.counts[kind]
            if not n:
                continue
            h = round(n * scale, 1)
            y = round(y - h, 1)
            when = f"{utc_label(b.start_ms, step, first=True)} – {utc_label(b.end_ms, step)} UTC"
            b.segments.append(Segment(kind, n, round(x1 + gap, 1), y, round(x2 - x1 - 2 * gap, 1), h, f"{when}: {n} {kind}"))
    levels = sorted({0, most, most // 2} if most >= 4 else {0, most})
    y_ticks = [(round(bottom - level * scale, 1), level) for level in levels]
    return Stacked(axis, bins, axis.ticks(), y_ticks, step, most, CHART_WIDTH, height, top, bottom)
