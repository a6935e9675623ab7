"""The DAG drawn for people: a text diagram, Mermaid and Graphviz DOT."""

from __future__ import annotations

from engine.graph import DYNAMIC_TABLE, EXTERNAL, PipelineGraph
from engine.lag import format_lag


def _label(graph: PipelineGraph, name: str) -> str:
    kind = graph.kind(name)
    if kind != DYNAMIC_TABLE:
        return "external table" if kind == EXTERNAL else "table"
    mode, _ = graph.refresh_mode(name)
    return f"lag {format_lag(graph.pipeline.dynamic_tables[name].target_lag)}, {mode}"


def text(graph: PipelineGraph, *, columns: bool = False) -> str:
    """Objects by dependency level, each dynamic table with what it reads (and, with ``columns``,
    its inferred output columns and types)."""
    levels = graph.levels()
    depth = max(levels.values(), default=0)
    width = max((len(n) for n in graph.create_order), default=0)
    info = max((len(_label(graph, n)) for n in graph.create_order), default=0)
    pipeline = graph.pipeline
    lines = [
        f"{pipeline.name}: {len(pipeline.tables)} tables → {len(pipeline.dynamic_tables)} dynamic tables",
        "",
    ]
    for level in range(depth + 1):
        names = [n for n in graph.create_order if levels[n] == level]
        if level:
            lines.append("   │")
            lines.append("   ▼")
        for i, name in enumerate(names):
            prefix = f"{level:>2} " if i == 0 else "   "
            reads = graph.upstream(name)
            arrow = f"  ◄ {', '.join(reads)}" if reads else ""
            lines.append(f"{prefix}{name:<{width}}  {_label(graph, name):<{info}}{arrow}".rstrip())
            inferred = _columns(graph, name) if columns else None
            if inferred:
                listing = ", ".join(str(c) for c in inferred)
                lines.append(f"   {'':<{width}}  ({listing})")
    return "\n".join(lines)


def _columns(graph: PipelineGraph, name: str):
    """A dynamic table's inferred output columns (None when unknown or not a dynamic table)."""
    compiled = graph.queries.get(name)
    return compiled.columns if compiled is not None else None


def as_json(graph: PipelineGraph) -> str:
    """The DAG for tools: every object with its kind, what it reads, its columns and types, and for
    dynamic tables the target lag, the refresh mode on Snowflake and locally, and the SQL."""
    import json

    from engine.graph import catalog

    pipeline = graph.pipeline
    base = catalog(pipeline)
    nodes = []
    for name in graph.create_order:
        node = {"name": name, "kind": graph.kind(name), "reads": graph.upstream(name)}
        if graph.kind(name) == DYNAMIC_TABLE:
            dt = pipeline.dynamic_tables[name]
            compiled = graph.queries[name]
            modes = compiled.modes(dt.refresh_mode)
            columns = compiled.columns
            node.update(
                target_lag=format_lag(dt.target_lag),
                refresh_mode=dt.refresh_mode.upper(),
                refresh_mode_snowflake={"mode": modes.snowflake, "reason": modes.snowflake_reason},
                refresh_mode_local={"mode": modes.local, "reason": modes.local_reason},
                columns=None if columns is None else [{"name": c.name, "type": c.type} for c in columns],
                sql=dt.sql,
            )
        else:
            columns = base.get(name)
            node["columns"] = None if columns is None else [{"name": c, "type": t.upper()} for c, t in columns.items()]
        nodes.append(node)
    edges = [{"from": s, "to": t} for s, t in sorted(graph.graph.edges, key=lambda e: (graph.create_order.index(e[1]), e[0]))]
    return json.dumps({"name": pipeline.name, "nodes": nodes, "edges": edges}, indent=2)


def _node_id(name: str) -> str:
    return name.replace("$", "_")


def mermaid(graph: PipelineGraph) -> str:
    """A Mermaid flowchart, top to bottom."""
    lines = ["flowchart TD"]
    for name in graph.create_order:
        label = f"{name}<br/>{_label(graph, name)}"
        shape = ("[(", ")]") if graph.kind(name) != DYNAMIC_TABLE else ("[", "]")
        lines.append(f'    {_node_id(name)}{shape[0]}"{label}"{shape[1]}')
    for source, target in sorted(graph.graph.edges, key=lambda e: (graph.create_order.index(e[1]), e[0])):
        lines.append(f"    {_node_id(source)} --> {_node_id(target)}")
    return "\n".join(lines)


def dot(graph: PipelineGraph) -> str:
    """A Graphviz digraph, top to bottom."""
    lines = [f'digraph "{graph.pipeline.name}" {{', "    rankdir=TB;", "    node [fontname=Helvetica];"]
    for name in graph.create_order:
        shape = "cylinder" if graph.kind(name) != DYNAMIC_TABLE else "box"
        lines.append(f'    "{name}" [shape={shape}, label="{name}\\n{_label(graph, name)}"];')
    for source, target in sorted(graph.graph.edges, key=lambda e: (graph.create_order.index(e[1]), e[0])):
        lines.append(f'    "{source}" -> "{target}";')
    lines.append("}")
    return "\n".join(lines)
