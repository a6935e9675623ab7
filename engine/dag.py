"""A small directed graph with the part of networkx's ``DiGraph`` interface the pipeline uses.

The pipeline's DAG has a few dozen nodes at most; importing networkx to hold it costs more than
every other step of ``pipe validate`` but parsing. This graph keeps nodes (with attributes) and
edges in insertion order; ordering and cycle finding use the standard library's ``graphlib``.
:meth:`Dag.to_networkx` gives a networkx graph for anything that needs its algorithms.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterator
from graphlib import CycleError, TopologicalSorter
from typing import Any


class Dag:
    """Nodes with attributes and directed edges; ``nodes``, ``edges``, ``predecessors`` and
    ``successors`` read as networkx's do."""

    def __init__(self) -> None:
        self.nodes: dict[Hashable, dict[str, Any]] = {}
        self._succ: dict[Hashable, dict[Hashable, None]] = {}
        self._pred: dict[Hashable, dict[Hashable, None]] = {}

    def add_node(self, node: Hashable, **attributes: Any) -> None:
        """Add ``node`` (or update its attributes)."""
        self.nodes.setdefault(node, {}).update(attributes)
        self._succ.setdefault(node, {})
        self._pred.setdefault(node, {})

    def add_edge(self, source: Hashable, target: Hashable) -> None:
        """Add the edge ``source → target`` (and either node if new)."""
        for node in (source, target):
            if node not in self.nodes:
                self.add_node(node)
        self._succ[source][target] = None
        self._pred[target][source] = None

    @property
    def edges(self) -> list[tuple[Hashable, Hashable]]:
        """Every edge as ``(source, target)``."""
        return [(source, target) for source, targets in self._succ.items() for target in targets]

    def predecessors(self, node: Hashable) -> Iterator[Hashable]:
        """The nodes with an edge to ``node``."""
        return iter(self._pred[node])

    def successors(self, node: Hashable) -> Iterator[Hashable]:
        """The nodes ``node`` has an edge to."""
        return iter(self._succ[node])

    def __contains__(self, node: object) -> bool:
        return node in self.nodes

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def descendants(self, node: Hashable) -> set[Hashable]:
        """Every node reachable from ``node`` (not ``node`` itself unless on a cycle)."""
        return _reach(node, self._succ)

    def ancestors(self, node: Hashable) -> set[Hashable]:
        """Every node from which ``node`` is reachable."""
        return _reach(node, self._pred)

    def find_cycle(self) -> list[Hashable] | None:
        """The nodes of one cycle, each with an edge to the next and the last to the first; None
        when the graph has no cycle."""
        try:
            TopologicalSorter({node: list(preds) for node, preds in self._pred.items()}).prepare()
        except CycleError as exc:
            return list(exc.args[1][:-1])  # graphlib repeats the first node at the end
        return None

    def topological_order(self, key: Callable[[Hashable], Any]) -> list[Hashable]:
        """Every node after all its predecessors; among the nodes ready at once, the smallest
        ``key`` first (networkx's ``lexicographical_topological_sort``).

        Raises:
            graphlib.CycleError: the graph has a cycle.
        """
        sorter = TopologicalSorter({node: list(preds) for node, preds in self._pred.items()})
        sorter.prepare()
        ready: list[tuple[Any, int, Hashable]] = []
        index = {node: i for i, node in enumerate(self.nodes)}
        order = []
        while sorter.is_active():
            for node in sorter.get_ready():
                heapq.heappush(ready, (key(node), index[node], node))
            _, _, node = heapq.heappop(ready)
            order.append(node)
            sorter.done(node)
        return order

    def to_networkx(self):
        """The same graph as a ``networkx.DiGraph`` (networkx is imported here, on first use)."""
        import networkx as nx

        graph = nx.DiGraph()
        for node, attributes in self.nodes.items():
            graph.add_node(node, **attributes)
        graph.add_edges_from(self.edges)
        return graph


def _reach(start: Hashable, neighbours: dict[Hashable, dict[Hashable, None]]) -> set[Hashable]:
    seen: set[Hashable] = set()
    todo: list[Hashable] = list(neighbours[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(neighbours[node])
    return seen

