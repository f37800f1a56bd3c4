"""BP-SYS-008 network reachability: the NetworkPolicy evaluator's semantics, and each defect
(DNS, Pod Identity agent, scraper, a declared client, a model nobody may call) re-introduced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hybrid_ai_platform.cli.checks.netpol import Policy, address, allowed, pod, policy_types, selector_matches
from hybrid_ai_platform.cli.diff import is_blocking
from tests.checks.check_helpers import PROJECT, check_findings, document, findings, named, plan_edited

CHECK = "system-network-reachability"

# --------------------------------------------------------------------------- evaluator semantics

SERVER = pod("models", {"app": "server"}, named_ports={"http": (8080, "TCP")})
CLIENT = pod("clients", {"role": "caller"}, {"team": "a"})


def test_a_pod_no_policy_selects_is_not_isolated() -> None:
    other = Policy("models", {"podSelector": {"matchLabels": {"app": "other"}}, "policyTypes": ["Ingress"]})
    assert allowed([other], CLIENT, SERVER, 8080, "TCP")


def test_default_deny_isolates_and_allow_policies_add_up() -> None:
    deny = Policy("models", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    assert not allowed([deny], CLIENT, SERVER, 8080, "TCP")
    allow = Policy("models", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    assert allowed([deny, allow], CLIENT, SERVER, 8080, "TCP")
    # the server's own egress is still denied: the allow policy has only the Ingress type
    assert not allowed([deny, allow], SERVER, CLIENT, 443, "TCP")


def test_policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() -> None:
    assert policy_types({"podSelector": {}}) == {"Ingress"}
    assert policy_types({"podSelector": {}, "egress": []}) == {"Ingress", "Egress"}
    assert policy_types({"policyTypes": ["Egress"]}) == {"Egress"}


def test_namespace_and_pod_selector_in_one_peer_are_anded_in_two_peers_ored() -> None:
    deny = Policy("models", {"podSelector": {}, "policyTypes": ["Ingress"]})
    both = {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchLabels": {"role": "x"}}}
    anded = Policy("models", {"podSelector": {}, "ingress": [{"from": [both]}]})
    assert not allowed([deny, anded], CLIENT, SERVER, 8080, "TCP")  # namespace matches, pod does not
    ored = Policy("models", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "a"}}}, {"podSelector": {"matchLabels": {"role": "x"}}},
    ]}]})  # fmt: skip
    assert allowed([deny, ored], CLIENT, SERVER, 8080, "TCP")


def test_a_pod_selector_alone_selects_pods_of_the_policys_namespace_only() -> None:
    policy = Policy("models", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})
    assert not allowed([policy], CLIENT, SERVER, 8080, "TCP")
    assert allowed([policy], pod("models", {"a": "b"}), SERVER, 8080, "TCP")


def test_ports_protocols_ranges_and_named_ports() -> None:
    def only(ports: list[dict[str, Any]]) -> list[Policy]:
        return [Policy("models", {"podSelector": {}, "ingress": [{"ports": ports}]})]

    assert allowed(only([{"port": 8080}]), CLIENT, SERVER, 8080, "TCP")  # protocol defaults to TCP
    assert not allowed(only([{"port": 8080}]), CLIENT, SERVER, 8080, "UDP")
    assert allowed(only([{"port": 8000, "endPort": 8100}]), CLIENT, SERVER, 8080, "TCP")
    assert not allowed(only([{"port": 8000, "endPort": 8079}]), CLIENT, SERVER, 8080, "TCP")
    assert allowed(only([{"port": "http"}]), CLIENT, SERVER, 8080, "TCP")
    assert not allowed(only([{"port": "grpc"}]), CLIENT, SERVER, 8080, "TCP")
    assert allowed(only([{"protocol": "UDP"}]), CLIENT, SERVER, 53, "UDP")  # any port of the protocol


def test_ip_blocks_with_exceptions_name_addresses_not_pods() -> None:
    deny = Policy("models", {"podSelector": {}, "policyTypes": ["Egress"]})
    web = Policy("models", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]}
    ]})  # fmt: skip
    assert allowed([deny, web], SERVER, address("52.95.1.1"), 443, "TCP")
    assert not allowed([deny, web], SERVER, address("169.254.170.23"), 80, "TCP")
    assert not allowed([deny, web], SERVER, CLIENT, 443, "TCP")


def test_label_selector_expressions() -> None:
    labels = {"a": "1", "b": "2"}
    assert selector_matches({}, labels) and selector_matches(None, {})
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["1"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "c", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "z", "operator": "Exists"}]},
                                labels)  # fmt: skip


# --------------------------------------------------------------------------- the plan's policies


def _egress_rules(doc: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = named(doc, f"{namespace}-allow-egress")["inputs"]["spec"]["egress"]
    return rules


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_policies_admit_everything_their_workloads_need(stack: str) -> None:
    assert findings(document(stack), CHECK) == []


def test_dns_egress_missing_blocks_for_every_pod_of_the_namespace() -> None:
    # GIVEN prod with the DNS rule gone from fraud-scorer's egress policy
    doc = document("prod")
    rules = _egress_rules(doc, "fraud-scorer")
    rules[:] = [r for r in rules if {"port": 53, "protocol": "UDP"} not in r.get("ports", [])]
    result = findings(doc, CHECK)
    # THEN the server and the batch job in that namespace are each reported, naming the model entry
    assert sorted(f["urn"] for f in result) == sorted(
        [named(doc, "fraud-scorer-deployment")["urn"], named(doc, "nightly-fraud-scores-cronjob")["urn"]]
    )
    assert all(is_blocking(f) and f["field"] == "inference.models[0].name" for f in result)
    assert all("may not reach cluster DNS (kube-system/kube-dns) on 53/UDP and 53/TCP" in f["message"] for f in result)


def test_dns_over_udp_only_is_reported_for_tcp() -> None:
    doc = document("dev")
    for rule in _egress_rules(doc, "fraud-scorer"):
        rule["ports"] = [p for p in rule["ports"] if p != {"port": 53, "protocol": "TCP"}]
    result = findings(doc, CHECK)
    assert result and all(f["message"].endswith("on 53/TCP") for f in result)


def test_pod_identity_agent_egress_missing_blocks() -> None:
    doc = document("dev")
    rules = _egress_rules(doc, "fraud-scorer")
    rules[:] = [r for r in rules if r["to"] != [{"ipBlock": {"cidr": "169.254.170.23/32"}}]]
    result = findings(doc, CHECK)
    assert len(result) == 2 and all(is_blocking(f) for f in result)
    assert all("may not reach the agent at 169.254.170.23:80/TCP" in f["message"] for f in result)


def test_emf_egress_by_namespace_selector_misses_the_host_network_agent() -> None:
    # GIVEN prod whose EMF rule names the agent's namespace instead of the nodes' CIDR (the agent runs in
    # the host network, so a namespaceSelector never matches it)
    doc = document("prod")
    for rule in _egress_rules(doc, "fraud-scorer"):
        if rule.get("ports") == [{"protocol": "TCP", "port": 25888}]:
            rule["to"] = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "amazon-cloudwatch"}}}]
    result = findings(doc, CHECK)
    # THEN the server and the batch job of that namespace are reported, as blocking
    assert sorted(f["urn"] for f in result) == sorted(
        [named(doc, "fraud-scorer-deployment")["urn"], named(doc, "nightly-fraud-scores-cronjob")["urn"]]
    )
    assert all(is_blocking(f) and "may not reach a node address on 25888/TCP" in f["message"] for f in result)


def test_metrics_scraper_not_admitted_blocks() -> None:
    doc = document("prod")
    doc["resources"].remove(named(doc, "churn-predictor-allow-metrics-scraper"))
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding) and finding["urn"] == named(doc, "churn-predictor-deployment")["urn"]
    assert "does not admit the metrics scraper (namespace amazon-cloudwatch) on 8080/TCP" in finding["message"]


def test_a_declared_client_namespace_the_policy_does_not_admit_blocks() -> None:
    # GIVEN prod whose caller policy for churn-predictor names another namespace than the config's crm
    doc = document("prod")
    peer = named(doc, "churn-predictor-allow-callers")["inputs"]["spec"]["ingress"][0]["from"][0]
    peer["namespaceSelector"]["matchExpressions"][0]["values"] = ["marketing"]
    result = findings(doc, CHECK)
    assert {f["field"] for f in result} == {"inference.models[1].allowed_namespaces"}
    assert any("does not admit declared client namespace 'crm' on 8080/TCP" in f["message"] for f in result)
    assert any("admits no client namespace" in f["message"] for f in result)


def test_a_model_nobody_may_call_blocks_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN dev whose model lists no client namespace
    def edit(config: dict[str, Any]) -> None:
        config[f"{PROJECT}:inference"]["models"][0]["allowed_namespaces"] = []

    # WHEN planned
    code, plan = plan_edited(tmp_path, capsys, "dev", edit)
    # THEN blueprint plan fails, naming the Deployment and the field
    assert code == 1
    [finding] = check_findings(plan, CHECK)
    assert is_blocking(finding)
    assert finding["urn"] == named(plan, "fraud-scorer-deployment")["urn"]
    assert finding["field"] == "inference.models[0].allowed_namespaces"
    assert "admits no client namespace (allowed_namespaces: none)" in finding["message"]
