"""TagResource, UntagResource, ListTagsForResource on behavior graphs."""

from __future__ import annotations

import pytest
from api_harness import ADMIN, OTHER_ADMIN, OTHER_REGION, REGION

from gumshoe.api import graphs, tags
from gumshoe.errors import ResourceNotFoundException, ValidationException

MEMBER = "222222222222"


def tags_of(env, arn, caller=ADMIN, region=REGION):
    return env.call(tags.list_tags_for_resource, caller, {"ResourceArn": arn}, region=region)["Tags"]


def tag(env, arn, values, caller=ADMIN, region=REGION):
    return env.call(tags.tag_resource, caller, {"ResourceArn": arn, "Tags": values}, region=region)


def test_a_new_graph_has_no_tags(env):
    assert tags_of(env, env.graph(ADMIN)) == {}


def test_tag_adds_and_overwrites(env):
    arn = env.graph(ADMIN, tags={"team": "sec"})
    assert tag(env, arn, {"env": "prod", "team": "ir"}) == {}
    assert tags_of(env, arn) == {"env": "prod", "team": "ir"}


def test_untag_removes_only_the_given_keys(env):
    arn = env.graph(ADMIN, tags={"a": "1", "b": "2", "c": "3"})
    env.call(tags.untag_resource, ADMIN, {"ResourceArn": arn, "TagKeys": ["a", "c", "missing"]})
    assert tags_of(env, arn) == {"b": "2"}
    env.call(tags.untag_resource, ADMIN, {"ResourceArn": arn, "TagKeys": ["missing"]})
    assert tags_of(env, arn) == {"b": "2"}


def test_tags_are_per_graph(env):
    mine = env.graph(ADMIN, tags={"owner": "admin"})
    theirs = env.graph(OTHER_ADMIN, tags={"owner": "other"})
    tag(env, mine, {"x": "y"})
    assert tags_of(env, mine) == {"owner": "admin", "x": "y"}
    assert tags_of(env, theirs, OTHER_ADMIN) == {"owner": "other"}


def test_at_most_50_tags(env):
    arn = env.graph(ADMIN)
    tag(env, arn, {f"k{i:02}": str(i) for i in range(49)})
    tag(env, arn, {"k00": "changed", "k49": "49"})  # 50: fine, overwriting counts once
    assert len(tags_of(env, arn)) == 50
    with pytest.raises(ValidationException):
        tag(env, arn, {"k50": "50"})
    with pytest.raises(ValidationException):
        tag(env, arn, {"k00": "again", "new": "x"})
    current = tags_of(env, arn)
    assert len(current) == 50 and "k50" not in current and current["k00"] == "changed"  # nothing applied
    env.call(tags.untag_resource, ADMIN, {"ResourceArn": arn, "TagKeys": ["k01"]})
    tag(env, arn, {"k50": "50"})
    assert len(tags_of(env, arn)) == 50


@pytest.mark.parametrize("who", ["other-admin", "member", "other-region"])
def test_tags_of_a_graph_the_caller_does_not_administer_are_not_found(env, who):
    arn = env.graph(ADMIN, tags={"keep": "me"})
    env.join(arn, ADMIN, MEMBER)
    caller, region = {"other-admin": (OTHER_ADMIN, REGION), "member": (MEMBER, REGION),
                      "other-region": (ADMIN, OTHER_REGION)}[who]
    with pytest.raises(ResourceNotFoundException):
        tag(env, arn, {"evil": "x"}, caller, region)
    with pytest.raises(ResourceNotFoundException):
        env.call(tags.untag_resource, caller, {"ResourceArn": arn, "TagKeys": ["keep"]}, region=region)
    with pytest.raises(ResourceNotFoundException):
        tags_of(env, arn, caller, region)
    assert tags_of(env, arn) == {"keep": "me"}


def test_tags_of_a_deleted_graph_are_gone(env):
    arn = env.graph(ADMIN, tags={"a": "1"})
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})
    with pytest.raises(ResourceNotFoundException):
        tags_of(env, arn)
    with pytest.raises(ResourceNotFoundException):
        tag(env, arn, {"a": "2"})
    again = env.graph(ADMIN)
    assert tags_of(env, again) == {}
