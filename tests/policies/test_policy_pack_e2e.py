"""End to end: the real pack process, driven over the analyzer protocol, over the shipped stacks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import hybrid_ai_platform
from hybrid_ai_platform.cli.analyzer import PolicyPackError, PolicyPackProcess, load_policy_config, run_policy_pack
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize
from tests.conftest import shipped_plan
from tests.policies.conftest import TODAY


def _analyze(pack: PolicyPackProcess, document: dict, stack: str, **config_changes: dict) -> dict:
    config, config_file = load_policy_config(stack, PROJECT_ROOT)
    for policy, values in config_changes.items():
        config[policy] = {**config[policy], **values}
    return pack.analyze(document, stack, config, config_file)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_have_no_unexcepted_mandatory_violation(pack_process: PolicyPackProcess, stack: str) -> None:
    # GIVEN the shipped stack's plan WHEN the pack analyzes it THEN nothing blocks
    document = shipped_plan(stack).to_json()
    section = run_policy_pack(document, stack, PROJECT_ROOT, pack=pack_process)
    assert section["summary"]["mandatory"] == 0, [v for v in section["violations"] if v["enforcement"] == "mandatory"]
    assert section["pack"] == "hybrid-ai-platform-policies" and section["version"] == hybrid_ai_platform.__version__
    assert section["config_file"] == f"policies/config/{stack}.json"


def test_section_lists_policy_metadata_from_the_protocol(pack_process: PolicyPackProcess) -> None:
    section = run_policy_pack(shipped_plan("prod").to_json(), "prod", PROJECT_ROOT, pack=pack_process)
    by_name = {p["name"]: p for p in section["policies"]}
    encryption = by_name["s3-encryption"]
    assert encryption["id"] == "BP-S3-002" and encryption["severity"] == "high"
    assert encryption["enforcement"] == "mandatory" and encryption["equivalents"]["checkov"] == ["CKV_AWS_145"]
    assert by_name["residency-provider-region"]["waivable"] is False
    assert by_name["policy-exceptions"]["enforcement"] == "advisory"


def test_disallowed_region_is_a_mandatory_violation(pack_process: PolicyPackProcess) -> None:
    # GIVEN prod moved to us-east-1 (the stack's own guard relaxed) and the committed policy config, as
    # `pulumi preview --policy-pack-config policies/config/prod.json` uses it before it is regenerated
    plan = synthesize(
        "prod", overrides={"aws:region": "us-east-1", "hybrid-ai-platform:allowed_regions": ["us-east-1"]}
    )
    config, config_file = load_policy_config("prod", PROJECT_ROOT)
    section = pack_process.analyze(plan.to_json(), "prod", config, config_file)
    # THEN the provider is named with the region and the fix
    (violation,) = [v for v in section["violations"] if v["policy"] == "residency-provider-region"]
    assert violation["enforcement"] == "mandatory" and violation["resource_type"] == "pulumi:providers:aws"
    assert "us-east-1" in violation["message"] and "aws:region" in violation["remediation"]


def test_removed_public_access_block_names_the_bucket(pack_process: PolicyPackProcess) -> None:
    # GIVEN the prod plan without the landing bucket's public access block
    document = copy.deepcopy(shipped_plan("prod").to_json())
    document["resources"] = [r for r in document["resources"] if r["name"] != "landing-public-access"]
    section = run_policy_pack(document, "prod", PROJECT_ROOT, pack=pack_process)
    # THEN exactly that bucket is a mandatory violation (besides prod's advisory placement-cost finding: its
    # transactions function costs more on Lambda than on the cluster, docs/placement.md)
    (violation,) = [v for v in section["violations"] if v["policy"] != "placement-cost"]
    assert violation["policy"] == "s3-public-access-block" and violation["resource_name"] == "landing-bucket"
    assert violation["message"] == "bucket 'landing-bucket' has no public access block"
    assert section["summary"] == {"mandatory": 1, "advisory": 1, "excepted": 0}


def test_exception_waives_over_the_protocol(pack_process: PolicyPackProcess, tmp_path: Path) -> None:
    # GIVEN the same broken plan and an active exception for that bucket
    document = copy.deepcopy(shipped_plan("prod").to_json())
    document["resources"] = [r for r in document["resources"] if r["name"] != "landing-public-access"]
    exceptions = tmp_path / "prod.yaml"
    exceptions.write_text(
        "exceptions:\n  - {policy: s3-public-access-block, resource: landing-bucket, reason: 'public dataset mirror',"
        " owner: data-eng, ticket: SEC-42, expires: 2025-12-31}\n"
    )
    section = _analyze(
        pack_process, document, "prod", **{"s3-public-access-block": {"exceptionsFile": str(exceptions)}}
    )
    # THEN the violation is listed as excepted, with the exception, and nothing blocks
    (violation,) = [v for v in section["violations"] if v["policy"] != "placement-cost"]
    assert violation["exception"] == {
        "reason": "public dataset mirror",
        "owner": "data-eng",
        "ticket": "SEC-42",
        "expires": "2025-12-31",
    }
    assert violation["resource_name"] == "landing-bucket" and violation["enforcement"] == "mandatory"
    assert section["summary"] == {"mandatory": 0, "advisory": 1, "excepted": 1}


def test_secret_and_archive_inputs_reach_the_pack(pack_process: PolicyPackProcess) -> None:
    # GIVEN a function environment value wrapped as a secret, next to its code archive
    document = copy.deepcopy(shipped_plan("dev").to_json())
    function = next(r for r in document["resources"] if r["type"] == "aws:lambda/function:Function")
    function["inputs"]["environment"]["variables"]["API_TOKEN"] = {"secret": "xoxb-123"}
    section = run_policy_pack(document, "dev", PROJECT_ROOT, pack=pack_process)
    messages = [v["message"] for v in section["violations"] if v["policy"] == "lambda-no-secrets-in-environment"]
    assert messages == [f"function '{function['name']}': environment variable API_TOKEN looks like a secret"]


def test_invalid_policy_config_is_refused_with_the_field(pack_process: PolicyPackProcess) -> None:
    with pytest.raises(PolicyPackError, match=r"budget-gpu-total.maxTotalGpus: 'many' is not of type 'integer'"):
        _analyze(pack_process, shipped_plan("dev").to_json(), "dev", **{"budget-gpu-total": {"maxTotalGpus": "many"}})


def test_pack_that_cannot_start_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("name: broken\nruntime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('the pack is broken on purpose')\n")
    with pytest.raises(PolicyPackError, match="failed to start") as error:
        PolicyPackProcess(tmp_path)
    assert "broken on purpose" in str(error.value)


def test_violations_are_stable_sorted(pack_process: PolicyPackProcess) -> None:
    document = copy.deepcopy(shipped_plan("prod").to_json())
    for resource in document["resources"]:
        if resource["type"] == "aws:lambda/function:Function":
            resource["inputs"]["tracingConfig"] = {"mode": "PassThrough"}
    first = run_policy_pack(document, "prod", PROJECT_ROOT, pack=pack_process)
    second = run_policy_pack(document, "prod", PROJECT_ROOT, pack=pack_process)
    assert json.dumps(first) == json.dumps(second)
    keys = [(v["policy"], v["urn"] or "", v["message"]) for v in first["violations"]]
    # the two untraced functions, and prod's advisory placement-cost finding
    assert keys == sorted(keys) and len(keys) == 3


def _careless(document: dict, change: str) -> None:
    """Change the prod plan the way a careless or clever pull request would."""
    by_type: dict[str, list[dict]] = {}
    for resource in document["resources"]:
        by_type.setdefault(resource["type"], []).append(resource)
    if change == "split-world-ingress":
        rule = by_type["aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"][0]
        twin = copy.deepcopy(rule)
        rule["inputs"]["cidrIpv4"], twin["inputs"]["cidrIpv4"] = "0.0.0.0/1", "128.0.0.0/1"
        twin["urn"], twin["name"] = rule["urn"] + "-twin", rule["name"] + "-twin"
        document["resources"].append(twin)
    elif change == "bucket-arn-wildcard":
        policy = by_type["aws:iam/rolePolicy:RolePolicy"][0]
        statements = json.loads(policy["inputs"]["policy"])
        statements["Statement"][0]["Resource"] = "arn:aws:s3:::*/*"
        statements["Statement"][0]["Action"] = ["s3:GetObject"]
        policy["inputs"]["policy"] = json.dumps(statements)
    elif change == "host-network-init-privileged":
        job = by_type["kubernetes:batch/v1:CronJob"][0]
        pod = job["inputs"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        pod["initContainers"] = [{**copy.deepcopy(pod["containers"][0]), "name": "setup"}]
        pod["initContainers"][0]["securityContext"]["privileged"] = True
    elif change == "empty-owner-tag":
        by_type["aws:kms/key:Key"][0]["inputs"]["tags"]["owner"] = ""
    elif change == "mutable-unrotated":
        by_type["aws:ecr/repository:Repository"][0]["inputs"]["imageTagMutability"] = "MUTABLE"
        by_type["aws:kms/key:Key"][0]["inputs"]["enableKeyRotation"] = False


@pytest.mark.parametrize(
    ("change", "policies"),
    [
        ("split-world-ingress", {"network-no-world-ingress"}),
        ("bucket-arn-wildcard", {"iam-no-wildcard-resource-for-data"}),
        ("host-network-init-privileged", {"k8s-pss-host-namespaces", "k8s-no-privileged"}),
        ("empty-owner-tag", {"tags-required", "tags-allowed-values"}),
        ("mutable-unrotated", {"ecr-tag-immutability", "kms-key-rotation"}),
    ],
)
def test_careless_changes_to_prod_are_mandatory_violations(
    pack_process: PolicyPackProcess, change: str, policies: set[str]
) -> None:
    # GIVEN the prod plan changed as a careless pull request would
    document = copy.deepcopy(shipped_plan("prod").to_json())
    _careless(document, change)
    # WHEN the real pack analyzes it THEN exactly the policies for that risk block it
    section = run_policy_pack(document, "prod", PROJECT_ROOT, pack=pack_process)
    blocking = {v["policy"] for v in section["violations"] if v["enforcement"] == "mandatory" and not v["exception"]}
    assert blocking == policies, section["violations"]


def test_a_helper_process_shares_analyze_stack_with_the_same_section(
    pack_process: PolicyPackProcess, tmp_path: Path
) -> None:
    # GIVEN prod without the landing bucket's public access block, policy and versioning (three stack policies
    # break), exceptions waiving the first two and an expired one for the third (the audit reports it)
    document = copy.deepcopy(shipped_plan("prod").to_json())
    removed = {"landing-public-access", "landing-policy", "landing-versioning"}
    document["resources"] = [r for r in document["resources"] if r["name"] not in removed]
    exceptions = tmp_path / "prod.yaml"
    entry = (
        "{{policy: {}, resource: landing-bucket, reason: 'public dataset mirror', owner: data-eng, ticket: {}, "
        "expires: {}}}"
    )
    exceptions.write_text(
        "exceptions:\n"
        + "".join(
            f"  - {entry.format(policy, ticket, expires)}\n"
            for policy, ticket, expires in (
                ("s3-public-access-block", "SEC-1", "2025-12-31"),
                ("s3-tls-only", "SEC-2", "2025-12-31"),
                ("s3-versioning", "SEC-3", "2025-01-01"),
            )
        )
    )
    config, config_file = load_policy_config("prod", PROJECT_ROOT)
    for policy in ("s3-public-access-block", "s3-tls-only", "s3-versioning", "policy-exceptions"):
        config[policy] = {**config[policy], "exceptionsFile": str(exceptions)}
    alone = pack_process.analyze(document, "prod", config, config_file)
    # WHEN a second process of the pack takes half of the stack policies
    with PolicyPackProcess(PROJECT_ROOT / "policies", env={"BLUEPRINT_POLICIES_TODAY": TODAY.isoformat()}) as helper:
        sent: list[str] = []
        start = helper._start
        helper._start = lambda method, request: sent.append(method) or start(method, request)  # type: ignore[method-assign]
        shared = pack_process.analyze(document, "prod", config, config_file, helper=helper)
    # THEN the helper ran AnalyzeStack, and the section is the same: the waived violations of both processes'
    # policies, the audit once
    assert sent == ["AnalyzeStack"]
    assert shared == alone
    waived = sorted(v["policy"] for v in alone["violations"] if v["exception"])
    assert waived == ["s3-public-access-block", "s3-tls-only"]
    audit = [
        v["message"] for v in alone["violations"] if v["policy"] == "policy-exceptions" and "expired" in v["message"]
    ]
    assert len(audit) == 1


def test_a_helper_that_fails_leaves_its_share_to_the_pack_with_the_same_section(
    pack_process: PolicyPackProcess, tmp_path: Path
) -> None:
    # GIVEN dev with an untagged log group whose tags-required violations an exception waives (recorded during
    # the Analyze calls, reported by policy-exceptions in AnalyzeStack)
    document = copy.deepcopy(shipped_plan("dev").to_json())
    log_group = next(r for r in document["resources"] if r["name"] == "cluster-control-plane-logs")
    del log_group["inputs"]["tags"]
    exceptions = tmp_path / "dev.yaml"
    exceptions.write_text(
        "exceptions:\n  - {policy: tags-required, resource: cluster-control-plane-logs, reason: 'public dataset "
        "mirror', owner: data-eng, ticket: SEC-1, expires: 2099-12-31}\n"
    )
    config, config_file = load_policy_config("dev", PROJECT_ROOT)
    for policy in ("tags-required", "policy-exceptions"):
        config[policy] = {**config.get(policy, {}), "exceptionsFile": str(exceptions)}
    alone = pack_process.analyze(document, "dev", config, config_file)
    assert alone["summary"]["excepted"] == 5
    # WHEN the helper's AnalyzeStack fails after this process ran its own share
    with PolicyPackProcess(PROJECT_ROOT / "policies", env={"BLUEPRINT_POLICIES_TODAY": TODAY.isoformat()}) as helper:

        def fails(method: str, call: object) -> None:
            raise PolicyPackError("the helper died")

        helper._result = fails  # type: ignore[method-assign]
        shared = pack_process.analyze(document, "dev", config, config_file, helper=helper)
    # THEN the section is the same: the waivers recorded before this process's policy-exceptions ran are kept
    assert shared == alone
