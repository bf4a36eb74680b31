"""What a report shows for its indicators: the firsts of a principal with no baseline as one
finding per kind."""

from __future__ import annotations

from typing import Any

from gumshoe.indicators import group_firsts


def agent(seq: int, ua: str, no_baseline: bool = True) -> dict[str, Any]:
    evidence = {"firstSeen": 1000 + seq, **({"noBaseline": True} if no_baseline else {})}
    return {"seq": seq, "type": "NEW_USER_AGENT", "detail": {"UserAgent": ua, "IsNewForEntireAccount": True},
            "evidence": evidence}


def test_firsts_without_a_baseline_are_one_finding_in_the_place_of_the_first() -> None:
    ttp = {"seq": 0, "type": "TTP_OBSERVED", "detail": {}, "evidence": {}}
    place = {"seq": 4, "type": "NEW_GEOLOCATION", "detail": {"Location": "Berlin"}, "evidence": {"noBaseline": True}}
    report = group_firsts([ttp, agent(1, "a"), agent(2, "b"), place, agent(3, "c")])
    assert [(i["type"], i["seq"]) for i in report] == [("TTP_OBSERVED", 0), ("NEW_USER_AGENT", 1), ("NEW_GEOLOCATION", 4)]
    agents = report[1]
    assert agents["group"] == "noBaseline" and agents["count"] == 3
    assert agents["summary"] == "no baseline: 3 user agents seen for the first time"
    assert [m["detail"]["UserAgent"] for m in agents["members"]] == ["a", "b", "c"]
    assert report[2]["summary"] == "no baseline: 1 place seen for the first time"


def test_firsts_against_a_baseline_stay_one_by_one() -> None:
    report = group_firsts([agent(0, "a", no_baseline=False), agent(1, "b", no_baseline=False)])
    assert [i.get("group") for i in report] == [None, None]
