"""Templates: Jinja2 with autoescaping on for every template, whatever its name, so every
value a page shows (log fields above all: user agents, ARNs, finding titles) is HTML-escaped.
Data for scripts goes through ``|tojson`` into ``<script type="application/json">`` blocks,
which escapes ``<``, ``>``, ``&`` and ``'``; no script is ever built from strings."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from gumshoe.console import names, timeline
from gumshoe.console.timescope import PRESET_LABELS, PRESETS, TimeScope
from gumshoe.console.web import url

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def as_ms(value: Any) -> int | None:
    """Epoch milliseconds from milliseconds, epoch seconds (the API's floats) or ISO 8601."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value * 1000) if isinstance(value, float) or value < 100_000_000_000 else int(value)
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def utc(value: Any, seconds: bool = True) -> str:
    ms = as_ms(value)
    if ms is None:
        return "-"
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def utc_short(value: Any) -> str:
    """Month, day and time (UTC), for the dense columns of panels."""
    ms = as_ms(value)
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%m-%d %H:%M")


def datetime_local(ms: int) -> str:
    """A value for an <input type="datetime-local"> (UTC)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M")


def human_bytes(value: Any) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def profile_url(graph_id: str, entity_type: str, entity_id: str, scope: TimeScope | None = None, **extra: Any) -> str:
    path = f"/console/graphs/{graph_id}/entities/{quote(entity_type, safe='')}/{quote(entity_id, safe='')}"
    return url(path, **(scope.range_query() if scope else {}), **extra)


def flows_url(graph_id: str, entity_type: str, entity_id: str, scope: TimeScope | None = None, **extra: Any) -> str:
    """The VPC flow drill-down of an address or instance (its profile's flows tab)."""
    path = f"/console/graphs/{graph_id}/entities/{quote(entity_type, safe='')}/{quote(entity_id, safe='')}/flows"
    return url(path, **(scope.range_query() if scope else {}), **extra)


class Templates:
    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(utc=utc, utc_short=utc_short, bytes=human_bytes, number=number, entity_label=names.entity_label,
                                datetime_local=datetime_local, protocol=names.protocol_label)
        self.env.globals.update(
            url=url, profile_url=profile_url, flows_url=flows_url, static=self.static, names=names, preset_labels=PRESET_LABELS, presets=list(PRESETS),
            relationship_label=names.relationship_label, step_label=timeline.step_label,
        )
        self._versions: dict[str, str] = {}

    def static(self, name: str) -> str:
        """A static file's URL, with a digest of its content so a changed file is fetched again."""
        version = self._versions.get(name)
        if version is None:
            version = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
            self._versions[name] = version
        return f"/console/static/{name}?v={version}"

    def render(self, name: str, **values: Any) -> str:
        return self.env.get_template(name).render(**values)
