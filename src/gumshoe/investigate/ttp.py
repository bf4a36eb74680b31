"""MITRE ATT&CK tactics and techniques for CloudTrail API calls and GuardDuty finding types.

The mapping is data, ``data/ttp.toml`` (format in docs/TTP_MAPPING.md); this module checks it
once and answers look-ups for the TTP_OBSERVED indicator::

    ttp.toml ─> TtpMap.load (checked) ─┬─> for_api(source, name, failed, flags)  exact (source, name),
                                       │                                  filtered by outcome and
                                       │                                  the request's flags
                                       │          (Lambda's API version dropped from the name)
                                       ├─> for_finding(type)              longest prefix wins
                                       └─> api_names()                    every mapped call
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

OUTCOMES = ("any", "success", "failure")
# What the CloudTrail reader flags in a request's parameters (ApiEvent.request_flags): a row with
# ``when`` maps a call only when its request carried one of them.
REQUEST_FLAGS = ("shared", "public", "unblocked", "user_data")
WEIGHTS = ("low", "normal", "high")

_TACTIC_ID = re.compile(r"TA\d{4}")
_TECHNIQUE_ID = re.compile(r"T\d{4}(\.\d{3})?")
_TOP_KEYS = {"api", "finding", "tactics", "techniques"}
_TTP_KEYS = {"tactic", "technique", "procedure", "weight"}
_API_KEYS = _TTP_KEYS | {"source", "names", "outcome", "when"}
_FINDING_KEYS = _TTP_KEYS | {"prefix"}
_PACKAGED = "gumshoe/investigate/data/ttp.toml"
# Lambda records most management events with the API version it served them under, a date and
# sometimes a revision: CreateFunction20150331, UpdateFunctionCode20150331v2,
# PublishLayerVersion20181031. The mapping names the operation alone; both sides drop the suffix.
_VERSIONED_SOURCES = frozenset({"lambda.amazonaws.com"})
_API_VERSION = re.compile(r"(?<=[A-Za-z])\d{8}(v\d+)?$")


class TtpMapError(ValueError):
    """A mapping file that cannot be used; the message says where and what to fix."""


@dataclass(frozen=True, slots=True)
class Ttp:
    tactic: str  # tactic name, e.g. "Defense Evasion"
    tactic_id: str  # "TA0005"
    technique: str  # "T1562.008 Impair Defenses: Disable or Modify Cloud Logs"
    technique_id: str
    procedure: str
    weight: str  # "low" | "normal" | "high"


class TtpMap:
    """The checked mapping. Build it with ``TtpMap.load``."""

    def __init__(
        self,
        apis: Mapping[tuple[str, str], Sequence[tuple[str, frozenset[str], Ttp]]],
        findings: Mapping[str, Sequence[Ttp]],
    ) -> None:
        self._apis = {key: tuple(rows) for key, rows in apis.items()}
        self._findings = {prefix: tuple(ttps) for prefix, ttps in findings.items()}
        self._prefixes = sorted(self._findings, key=len, reverse=True)

    @classmethod
    def load(cls, path: Path | None = None) -> TtpMap:
        """Read and check a mapping file; without a path, the one packaged with Gumshoe."""
        where = str(path) if path is not None else _PACKAGED
        try:
            if path is None:
                raw = resources.files("gumshoe.investigate").joinpath("data/ttp.toml").read_bytes()
            else:
                raw = path.read_bytes()
            data = tomllib.loads(raw.decode("utf-8"))
        except OSError as exc:
            raise TtpMapError(f"{where}: cannot read the mapping: {exc}") from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TtpMapError(f"{where}: not valid TOML: {exc}") from None
        return _parse(data, where)

    def for_api(self, event_source: str, event_name: str, failed: bool,
                flags: frozenset[str] = frozenset()) -> tuple[Ttp, ...]:
        """The TTPs of one CloudTrail call with its request's flags; () when it is not mapped."""
        outcome = "failure" if failed else "success"
        rows = self._apis.get((event_source, operation(event_source, event_name)), ())
        return tuple(ttp for row_outcome, when, ttp in rows
                     if row_outcome in ("any", outcome) and (not when or when & flags))

    def for_finding(self, finding_type: str) -> tuple[Ttp, ...]:
        """The TTPs of the longest prefix of a GuardDuty finding type; () when none matches."""
        for prefix in self._prefixes:
            if finding_type.startswith(prefix):
                return self._findings[prefix]
        return ()

    def api_names(self) -> frozenset[tuple[str, str]]:
        """Every mapped (eventSource, eventName), whatever the outcome; Lambda's without their
        API version (see ``operation``)."""
        return frozenset(self._apis)


def operation(event_source: str, event_name: str) -> str:
    """The operation a CloudTrail eventName stands for: Lambda's without the API version it
    carries (``UpdateFunctionCode20150331v2`` -> ``UpdateFunctionCode``), others as they are."""
    if event_source in _VERSIONED_SOURCES:
        return _API_VERSION.sub("", event_name)
    return event_name


def api_label(event_source: str, event_name: str) -> str:
    """``cloudtrail.amazonaws.com``, ``StopLogging`` -> ``cloudtrail:StopLogging``."""
    return f"{event_source.removesuffix('.amazonaws.com')}:{event_name}"


def _parse(data: dict[str, Any], where: str) -> TtpMap:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise TtpMapError(f"{where}: unknown top-level keys {sorted(unknown)}; expected {sorted(_TOP_KEYS)}")
    tactics = _id_names(data, "tactics", _TACTIC_ID, "TA0005", where)
    techniques = _id_names(data, "techniques", _TECHNIQUE_ID, "T1562.008", where)

    apis: dict[tuple[str, str], list[tuple[str, frozenset[str], Ttp]]] = {}
    for n, row in enumerate(_rows(data, "api", where), start=1):
        at = f"{where}: [[api]] #{n}"
        _check_keys(row, _API_KEYS, {"source", "names", "tactic", "technique", "procedure"}, at)
        source = _text(row, "source", at)
        names = row["names"]
        if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
            raise TtpMapError(f"{at}: 'names' must be a non-empty list of API names")
        outcome = _choice(row, "outcome", OUTCOMES, "any", at)
        when = row.get("when", [])
        if not isinstance(when, list) or any(flag not in REQUEST_FLAGS for flag in when):
            raise TtpMapError(f"{at}: 'when' must be a list of request flags from {', '.join(REQUEST_FLAGS)}")
        conditions = frozenset(when)
        ttp = _ttp(row, tactics, techniques, at)
        for name in names:
            mapped = apis.setdefault((source, operation(source, name)), [])
            for other_outcome, other_when, other in mapped:
                same = (other.tactic_id, other.technique_id) == (ttp.tactic_id, ttp.technique_id)
                exclusive = bool(conditions) and bool(other_when) and not conditions & other_when
                if same and not exclusive and (outcome == other_outcome or "any" in (outcome, other_outcome)):
                    raise TtpMapError(
                        f"{at}: {api_label(source, name)} (outcome {outcome!r}) is already mapped to "
                        f"{ttp.tactic_id} {ttp.technique_id} (outcome {other_outcome!r}); "
                        "a call may appear twice only for a different tactic or technique"
                    )
            mapped.append((outcome, conditions, ttp))

    findings: dict[str, list[Ttp]] = {}
    for n, row in enumerate(_rows(data, "finding", where), start=1):
        at = f"{where}: [[finding]] #{n}"
        _check_keys(row, _FINDING_KEYS, {"prefix", "tactic", "technique", "procedure"}, at)
        prefix = _text(row, "prefix", at)
        ttp = _ttp(row, tactics, techniques, at)
        mapped_ttps = findings.setdefault(prefix, [])
        if any((t.tactic_id, t.technique_id) == (ttp.tactic_id, ttp.technique_id) for t in mapped_ttps):
            already = f"{ttp.tactic_id} {ttp.technique_id}"
            raise TtpMapError(f"{at}: prefix {prefix!r} is already mapped to {already}")
        mapped_ttps.append(ttp)
    return TtpMap(apis, findings)


def _id_names(
    data: dict[str, Any], key: str, pattern: re.Pattern[str], example: str, where: str
) -> dict[str, str]:
    table = data.get(key)
    if not isinstance(table, dict) or not table:
        raise TtpMapError(f"{where}: needs a [{key}] table of id = \"name\"")
    for id_, name in table.items():
        if not pattern.fullmatch(id_):
            raise TtpMapError(f"{where}: [{key}] id {id_!r} is not an ATT&CK id like {example!r}")
        if not isinstance(name, str) or not name:
            raise TtpMapError(f"{where}: [{key}] {id_} needs a name")
    return table


def _rows(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    rows = data.get(key, [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise TtpMapError(f"{where}: '{key}' must be written as [[{key}]] tables")
    return rows


def _check_keys(row: dict[str, Any], allowed: set[str], required: set[str], at: str) -> None:
    unknown = set(row) - allowed
    if unknown:
        raise TtpMapError(f"{at}: unknown keys {sorted(unknown)}; allowed are {sorted(allowed)}")
    missing = required - set(row)
    if missing:
        raise TtpMapError(f"{at}: missing keys {sorted(missing)}")


def _text(row: dict[str, Any], key: str, at: str) -> str:
    value = row[key]
    if not isinstance(value, str) or not value:
        raise TtpMapError(f"{at}: {key!r} must be a non-empty string")
    return value


def _choice(row: dict[str, Any], key: str, choices: tuple[str, ...], default: str, at: str) -> str:
    value = row.get(key, default)
    if value not in choices:
        raise TtpMapError(f"{at}: {key} {value!r} is not one of {', '.join(map(repr, choices))}")
    return str(value)


def _ttp(row: dict[str, Any], tactics: dict[str, str], techniques: dict[str, str], at: str) -> Ttp:
    tactic_id = _text(row, "tactic", at)
    technique_id = _text(row, "technique", at)
    if tactic_id not in tactics:
        raise TtpMapError(f"{at}: unknown tactic {tactic_id!r}; add it to [tactics]")
    if technique_id not in techniques:
        raise TtpMapError(f"{at}: unknown technique {technique_id!r}; add it to [techniques]")
    return Ttp(
        tactic=tactics[tactic_id],
        tactic_id=tactic_id,
        technique=f"{technique_id} {techniques[technique_id]}",
        technique_id=technique_id,
        procedure=_text(row, "procedure", at),
        weight=_choice(row, "weight", WEIGHTS, "normal", at),
    )
