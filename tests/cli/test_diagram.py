"""Mermaid diagram: edges from property dependencies, collapsed configuration, change classes."""

from __future__ import annotations

from cli_helpers import plan_pair

from hybrid_ai_platform.cli.diagram import build_graph, diff_status, render_mermaid
from hybrid_ai_platform.cli.diff import diff_plans


def _edges(document):
    graph = build_graph(document)
    return {(graph.nodes[s], graph.nodes[t], label) for s, t, label in graph.edges}, graph


def test_edges_follow_the_data_flow_from_property_dependencies() -> None:
    base, _ = plan_pair()
    edges, _ = _edges(base)
    assert ("landing-bucket", "transactions-object-created", "") in edges  # rule pattern → bucket
    assert ("transactions-object-created", "transactions-queue", "") in edges  # event target
    assert ("transactions-queue", "transactions-function", "") in edges  # event source mapping
    assert ("transactions-function", "feature-store-bucket", "") in edges  # function writes features
    assert ("transactions-backfill-schedule", "transactions-backfill-function", "") in edges
    assert ("inference-cluster", "gpu-l4-nodes", "") in edges  # node group → cluster
    assert ("gpu-l4-nodes", "fraud-scorer", "") in edges  # deployment depends_on the GPU nodes
    assert ("model-registry-bucket", "fraud-scorer", "") in edges  # model repository in the spec


def test_configuration_and_connector_resources_are_not_nodes() -> None:
    base, _ = plan_pair()
    _, graph = _edges(base)
    names = set(graph.nodes.values())
    assert "landing-versioning" not in names and "transactions-queue-policy" not in names
    assert "transactions-to-queue" not in names and "transactions-role" not in names
    assert (
        graph.nodes[graph.members[next(r["urn"] for r in base["resources"] if r["name"] == "landing-versioning")]]
        == "landing-bucket"
    )


def test_nodes_are_grouped_by_top_level_component() -> None:
    base, _ = plan_pair()
    text = render_mermaid(None, base)
    assert text.startswith("flowchart LR\n")
    assert "subgraph g" in text and '["transactions (PreprocessingPipeline)"]' in text
    assert "classDef" not in text  # a plain plan has no change classes


def test_diff_diagram_highlights_added_changed_replaced_and_removed_nodes() -> None:
    base, head = plan_pair()
    result = diff_plans(base, head)
    text = render_mermaid(base, head, diff_status(result.resources))
    assert "  class inference_server added" in text
    assert "  class gpu_l4_nodes replaced" in text
    assert "  class transactions_backfill_schedule removed" in text
    changed = next(line for line in text.splitlines() if line.endswith(" changed") and line.startswith("  class "))
    assert "model_registry_bucket" in changed  # its versioning (collapsed into it) changed
    assert "classDef added" in text
