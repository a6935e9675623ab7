"""The pipeline's small graph: orders, cycles and reachability, checked against networkx's."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from engine.dag import Dag


def random_dag(seed: int, nodes: int = 12) -> Dag:
    rng = random.Random(seed)
    dag = Dag()
    names = [f"N{i}" for i in rng.sample(range(100), nodes)]
    for name in names:
        dag.add_node(name, kind="table")
    for i, target in enumerate(names):
        for source in rng.sample(names[:i], min(i, rng.randint(0, 3))):
            dag.add_edge(source, target)
    return dag


@pytest.mark.parametrize("seed", range(20))
def test_orders_and_reach_equal_networkx(seed):
    dag = random_dag(seed)
    graph = dag.to_networkx()
    position = {n: i for i, n in enumerate(dag.nodes)}
    assert dag.topological_order(key=position.__getitem__) == list(
        nx.lexicographical_topological_sort(graph, key=position.__getitem__)
    )
    for node in dag.nodes:
        assert dag.descendants(node) == nx.descendants(graph, node)
        assert dag.ancestors(node) == nx.ancestors(graph, node)
        assert set(dag.predecessors(node)) == set(graph.predecessors(node))
    assert set(dag.edges) == set(graph.edges)
    assert dag.find_cycle() is None


def test_order_breaks_ties_by_key():
    dag = Dag()
    for name in ("C", "A", "B"):
        dag.add_node(name)
    dag.add_edge("B", "A")
    # C and B are ready first: B sorts before C; A becomes ready after B, and sorts before C.
    assert dag.topological_order(key=str) == ["B", "A", "C"]


def test_a_cycle_is_found_in_edge_order():
    dag = Dag()
    for source, target in [("BASE", "A"), ("A", "B"), ("B", "C"), ("C", "A")]:
        dag.add_edge(source, target)
    cycle = dag.find_cycle()
    assert sorted(cycle) == ["A", "B", "C"]
    # each node has an edge to the next, the last to the first
    assert all((cycle[i], cycle[(i + 1) % len(cycle)]) in dag.edges for i in range(len(cycle)))


def test_a_self_loop_is_a_cycle():
    dag = Dag()
    dag.add_edge("A", "A")
    assert dag.find_cycle() == ["A"]


def test_nodes_keep_their_attributes_and_order():
    dag = Dag()
    dag.add_node("X", kind="table")
    dag.add_edge("Y", "X")
    assert list(dag) == ["X", "Y"] and "Y" in dag and "Z" not in dag
    assert dag.nodes["X"] == {"kind": "table"} and dag.nodes["Y"] == {}
