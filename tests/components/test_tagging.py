"""Every taggable AWS resource in every shipped stack carries the required tags."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from blueprint.synth import Plan
from components.tagging import REQUIRED_TAG_KEYS, is_taggable, merge_tags


def test_no_taggable_resource_lacks_a_required_tag(any_stack_plan: Plan) -> None:
    # GIVEN every AWS resource of a shipped stack whose type accepts tags
    taggable = [r for r in any_stack_plan.resources if r.custom and is_taggable(r.type)]
    assert len(taggable) > 15
    # THEN each carries all required keys, with the stack's environment
    missing = {
        r.name: sorted(set(REQUIRED_TAG_KEYS) - set(r.inputs.get("tags") or {}))
        for r in taggable
        if set(REQUIRED_TAG_KEYS) - set(r.inputs.get("tags") or {})
    }
    assert missing == {}
    assert {r.inputs["tags"]["environment"] for r in taggable} == {any_stack_plan.stack}


def test_is_taggable_reads_the_sdk_schema() -> None:
    assert is_taggable("aws:s3/bucket:Bucket")
    assert is_taggable("aws:lambda/function:Function")
    assert not is_taggable("aws:s3/bucketVersioning:BucketVersioning")
    assert not is_taggable("aws:iam/rolePolicy:RolePolicy")
    assert not is_taggable("kubernetes:apps/v1:Deployment")
    assert not is_taggable("aws:nosuch/thing:Thing")


tag_maps = st.dictionaries(st.sampled_from([*REQUIRED_TAG_KEYS, "Name", "team", "purpose"]), st.text(max_size=5))


@given(base=tag_maps, extra=tag_maps)
def test_merge_keeps_required_tags_from_base(base: dict[str, str], extra: dict[str, str]) -> None:
    merged = merge_tags(base, extra)
    for key in REQUIRED_TAG_KEYS:
        if key in base:
            assert merged[key] == base[key]
        elif key in extra:
            assert merged[key] == extra[key]
    for key, value in extra.items():
        if key not in REQUIRED_TAG_KEYS:
            assert merged[key] == value
    assert set(merged) == set(base) | set(extra)
