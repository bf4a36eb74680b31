"""Detection quality: precision and recall of the investigation indicators on the generated
multi-account scenario (tests/investigate/scenario.py), driven through a live server.

    .venv/bin/python benchmarks/detection.py [--events-per-day 3000] [--no-doc]

Writes the tables into docs/DETECTION.md between the bench:detection markers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
for folder in ("tests", "tests/investigate", "tests/e2e"):
    sys.path.insert(0, str(ROOT / folder))

import detection  # noqa: E402
from e2e_helpers import Server  # noqa: E402
from scenario import generate  # noqa: E402

DOC = ROOT / "docs" / "DETECTION.md"
START_MARKER = "<!-- bench:detection:start -->"
END_MARKER = "<!-- bench:detection:end -->"
console = Console(soft_wrap=True)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events-per-day", type=int, default=3000)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gumshoe-detection-"))
    try:
        scenario = generate(work / "logs", events_per_day=args.events_per_day)
        console.print(f"scenario: {scenario.events:,} CloudTrail events and {scenario.findings} findings over 60 days, "
                      f"{len(scenario.attacks)} attacks, {len(scenario.normal)} ordinary principals")
        server = Server(work / "data", None, detection.server_args(scenario, work / "intel"), {})
        server.start()
        try:
            arn = detection.set_up_graph(server.client, scenario)
            begin = time.perf_counter()
            detection.ingest(server.url, scenario)
            console.print(f"ingested in {time.perf_counter() - begin:.1f} s")
            outcomes = detection.run_all(server.client(scenario.admin_account), arn, scenario,
                                         detection.report_reader(server.url, scenario.admin_account, arn))
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cases = ["| principal | scenario | expected severity | severity | expected evidence found | other indicators |",
             "|---|---|---|---|---|---|"]
    for o in outcomes:
        wanted = sum(len(v) for v in o.expected.indicators.values())
        got = wanted - sum(len(v) for v in o.missing.values())
        others = {k: sorted(v - o.expected.indicators.get(k, set())) for k, v in o.found.items()}
        other_text = "; ".join(f"{k}: {', '.join(v)}" for k, v in others.items() if v) or "none"
        expected_severity = f"≥ {o.expected.min_severity}" if o.attack else "≤ LOW, no indicator"
        cases.append(f"| `{o.expected.entity_arn}` | {o.expected.description} | {expected_severity} | {o.severity} | "
                     f"{got} of {wanted} | {other_text} |")
    scores = detection.score(outcomes)
    kinds = ["| indicator | expected | found | recall | on ordinary principals (false positives) | precision | "
             "other indicators on attacked principals |", "|---|---|---|---|---|---|---|"]
    table = Table(title="Detection on the generated scenario")
    for column in ("indicator", "expected", "found", "recall", "false positives", "precision", "other on attacked"):
        table.add_column(column)
    for s in scores.values():
        precision = s.found / (s.found + s.reported_normal) if s.found + s.reported_normal else None
        other = s.reported_attack - s.found
        kinds.append(f"| {s.kind} | {s.expected} | {s.found} | {_pct(s.recall)} | {s.reported_normal} | "
                     f"{_pct(precision)} | {other} |")
        table.add_row(s.kind, str(s.expected), str(s.found), _pct(s.recall), str(s.reported_normal), _pct(precision),
                      str(other))
    console.print(table)
    for o in outcomes:
        console.print(f"  {o.expected.entity_arn}: {o.severity} ({o.seconds:.2f} s)"
                      + (f" missing {o.missing}" if o.missing else ""))
    if not args.no_doc:
        block = (f"{START_MARKER}\nScenario: {scenario.events:,} CloudTrail events and {scenario.findings} GuardDuty "
                 f"findings in three accounts over 60 days (`--events-per-day {args.events_per_day}`), seed 7. "
                 f"Measured {time.strftime('%Y-%m-%d')}.\n\n"
                 + "\n".join(kinds) + "\n\n" + "\n".join(cases) + f"\n{END_MARKER}")
        text = DOC.read_text()
        head, rest = text.split(START_MARKER, 1)
        DOC.write_text(head + block + rest.split(END_MARKER, 1)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
