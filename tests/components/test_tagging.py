"""Every taggable AWS resource in every shipped stack carries the required tags."""

from __future__ import annotations

from hybrid_ai_platform.components.tagging import REQUIRED_TAG_KEYS, is_taggable, merge_tags
from hypothesis import given
from hypothesis import strategies as st

from hybrid_ai_platform.cli.synth import Plan


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


def _tag_sets(value: object) -> list[dict[str, str]]:
    """Every ``tags`` mapping in a resource's inputs, nested ones (launch-template tag specifications) too."""
    found: list[dict[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("tags", "tagsAll") and isinstance(item, dict):
                found.append(item)
            else:
                found.extend(_tag_sets(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_tag_sets(item))
    return found


def test_the_library_adds_at_most_library_tags_per_resource(any_stack_plan: Plan) -> None:
    # GIVEN every tag set of every resource of a shipped stack, less the stack's own tags.extra
    from hybrid_ai_platform.components.aws_rules import LIBRARY_TAGS_PER_RESOURCE, MAX_TAGS_PER_RESOURCE

    extra = set((any_stack_plan.config.get("hybrid-ai-platform:tags") or {}).get("extra") or {})
    added = [len(set(tags) - extra) for r in any_stack_plan.resources for tags in _tag_sets(r.inputs)]
    # THEN the library's own tags stay within the allowance the config's 50-tag check reserves for them
    assert max(added) <= LIBRARY_TAGS_PER_RESOURCE
    assert max(added) >= 12  # a GPU node group's launch template: required, Name and the autoscaler's tags
    assert LIBRARY_TAGS_PER_RESOURCE < MAX_TAGS_PER_RESOURCE
