"""Compute what ``apply`` would do: the desired pipeline diffed against a target's state.

Building a plan is pure: it returns frozen, typed actions with the Snowflake SQL of each.
``pipe plan`` prints them; backends execute them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine import names
from engine.definitions import Definition, dynamic_table_definition, function_definition, table_definition
from engine.graph import PipelineGraph
from engine.kinds import ActionKind, ObjectKind
from engine.properties import ALTERED, REPLACED, DynamicTableProperties
from engine.sql.render import Statements

# The kinds of objects a plan names (ObjectKind members: they print as before).
FUNCTION = ObjectKind.FUNCTION
TABLE = ObjectKind.TABLE
DATABASE = ObjectKind.DATABASE
SCHEMA = ObjectKind.SCHEMA
DYNAMIC_TABLE = ObjectKind.DYNAMIC_TABLE
EXTERNAL = ObjectKind.EXTERNAL


@dataclass(frozen=True)
class ObjectState:
    """One object as it exists on the target, in the terms the pipeline file uses.

    ``properties`` for a dynamic table: sql, target_lag, warehouse, refresh_mode, comment;
    for a table or function: fingerprint (the ``pipe:`` comment it was created with).
    """

    name: str
    kind: ObjectKind | str
    properties: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetState:
    """What exists on the target: whether the database and schema do, and pipe's objects."""

    database_exists: bool = False
    schema_exists: bool = False
    objects: Mapping[str, ObjectState] = field(default_factory=dict)
    conflicts: Mapping[str, str] = field(default_factory=dict)  # name -> what exists there instead

    @classmethod
    def empty(cls) -> TargetState:
        """A target where nothing exists yet."""
        return cls()


@dataclass(frozen=True)
class Change:
    """One property that differs: its name, the value on the target and the declared one."""

    property: str
    current: str | None
    desired: str | None
    # The whole old and new text (a query, a generator module) when the values above are a
    # summary of it: ``pipe plan`` shows their diff. ``before`` is None when the target does
    # not keep it.
    before: str | None = None
    after: str | None = None

    def __str__(self) -> str:
        return f"{self.property}: {self.current} → {self.desired}"


@dataclass(frozen=True)
class Action:
    """One step of a plan, with everything a backend needs to carry it out."""

    kind: ActionKind
    object_type: ObjectKind | str
    name: str
    statements: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    reason: str = ""
    consumers: tuple[str, ...] = ()
    destroys_data: bool = False
    columns: tuple[str, ...] = ()  # a created or replaced dynamic table's columns and types
    # What the object is made from (created, replaced or altered objects): a backend that does
    # not run the statements (the local one) carries the action out from this.
    definition: Definition | None = field(default=None, compare=False, repr=False)

    @property
    def is_change(self) -> bool:
        """Whether applying this action changes anything."""
        return self.kind is not ActionKind.UNCHANGED


@dataclass(frozen=True)
class Plan:
    """The ordered actions that make a target match a pipeline."""

    pipeline_name: str
    target: str
    setup: tuple[str, ...]
    actions: tuple[Action, ...]

    @property
    def changes(self) -> tuple[Action, ...]:
        """The actions that change something."""
        return tuple(a for a in self.actions if a.is_change)

    @property
    def has_changes(self) -> bool:
        """Whether applying the plan would change anything."""
        return bool(self.changes)

    @property
    def conflicts(self) -> tuple[Action, ...]:
        """Objects of declared names that pipe did not create: apply refuses while there are any."""
        return tuple(a for a in self.actions if a.kind is ActionKind.CONFLICT)

    @property
    def destructive(self) -> tuple[Action, ...]:
        """Actions that replace or drop existing data."""
        return tuple(a for a in self.actions if a.destroys_data)

    def statements(self) -> list[str]:
        """Every statement, in order, that a Snowflake deployment runs."""
        if not self.has_changes:
            return []
        body = [s for a in self.changes for s in a.statements]
        first_objects = [a for a in self.changes if a.object_type in (DATABASE, SCHEMA)]
        head = [s for a in first_objects for s in a.statements]
        rest = [s for s in body if s not in head]
        return [*head, *self.setup, *rest]

    def script(self) -> str:
        """The statements as one SQL script."""
        lines = [f"-- pipe plan: {self.pipeline_name} ({len(self.changes)} change(s))"]
        for statement in self.statements():
            lines.append(statement.rstrip() + ";\n")
        return "\n".join(lines).rstrip() + "\n"


def build_plan(graph: PipelineGraph, state: TargetState, *, target: str = "local", prune: bool = False) -> Plan:
    """Diff the pipeline of ``graph`` against ``state``.

    Args:
        graph: the checked pipeline graph.
        state: what exists on the target.
        target: the target's name, for display.
        prune: also drop pipe-made objects that the file no longer declares.
    """
    pipeline = graph.pipeline
    sql = Statements(pipeline)
    actions: list[Action] = []
    if not state.database_exists:
        actions.append(Action(ActionKind.CREATE, DATABASE, pipeline.snowflake.database, (sql.create_database(),)))
    if not state.schema_exists:
        name = f"{pipeline.snowflake.database}.{pipeline.snowflake.schema_name}"
        actions.append(Action(ActionKind.CREATE, SCHEMA, name, (sql.create_schema(),)))
    if prune:
        actions.extend(_prune(graph, state, sql))
    for name in pipeline.generators:
        actions.append(_function_action(sql, name, state))
    reinitialised: set[str] = set()
    for name in graph.create_order:
        kind = graph.kind(name)
        if kind == EXTERNAL:
            continue
        if name in state.conflicts:
            object_type = DYNAMIC_TABLE if kind == DYNAMIC_TABLE else TABLE
            actions.append(Action(ActionKind.CONFLICT, object_type, name, reason=state.conflicts[name]))
            continue
        if kind == DYNAMIC_TABLE:
            action = _dynamic_table_action(graph, sql, name, state, reinitialised)
        else:
            action = _table_action(graph, sql, name, state)
        if action.kind is ActionKind.REPLACE:
            reinitialised.update(action.consumers)
        actions.append(action)
    from engine.checks.snowflake import check_actions  # declared checks: data metric functions

    actions.extend(check_actions(graph, state, actions))
    return Plan(pipeline.name, target, tuple(sql.use()), tuple(actions))


def build_destroy_plan(graph: PipelineGraph, state: TargetState | None = None, *, target: str = "local") -> Plan:
    """Drop every object the file declares, in reverse dependency order, then the functions.

    With ``state``, objects that do not exist are left out.
    """
    pipeline = graph.pipeline
    sql = Statements(pipeline)
    actions = []
    for name in graph.drop_order:
        kind = graph.kind(name)
        if kind == EXTERNAL or (state is not None and name not in state.objects):
            continue
        if kind == DYNAMIC_TABLE:
            actions.append(Action(ActionKind.DROP, DYNAMIC_TABLE, name, (sql.drop_dynamic_table(name),), destroys_data=True))
        else:
            actions.append(Action(ActionKind.DROP, TABLE, name, (sql.drop_table(name),), destroys_data=True))
    for name in reversed(list(pipeline.generators)):
        fn = sql.function_name(name)
        if state is not None and _key(FUNCTION, fn) not in state.objects:
            continue
        actions.append(Action(ActionKind.DROP, FUNCTION, fn, (sql.drop_function(name),)))
    return Plan(pipeline.name, target, tuple(sql.use()), tuple(actions))


def _key(kind: str, name: str) -> str:
    """Functions live in their own namespace: their state key is prefixed."""
    return f"{kind}:{name}" if kind == FUNCTION else name


def _function_action(sql: Statements, name: str, state: TargetState) -> Action:
    fn = sql.function_name(name)
    current = state.objects.get(_key(FUNCTION, fn))
    statement = (sql.create_function(name),)
    definition = function_definition(sql, name)
    if current is None:
        return Action(ActionKind.CREATE, FUNCTION, fn, statement, definition=definition)
    desired = definition.fingerprint
    have = current.properties.get("fingerprint")
    if have == desired:
        return Action(ActionKind.UNCHANGED, FUNCTION, fn)
    old_types = current.properties.get("arg_types")
    new_types = definition.arg_types
    if old_types is not None and _types_key(old_types) != _types_key(new_types):
        # CREATE OR REPLACE with other argument types adds an overload: drop the old one.
        statement = (sql.drop_function_named(fn, _types_list(old_types)), *statement)
    return Action(
        ActionKind.REPLACE,
        FUNCTION,
        fn,
        statement,
        changes=(
            Change(
                "definition",
                have,
                desired,
                before=current.properties.get("source"),
                after=definition.source,
            ),
        ),
        reason="the generator's definition or code changed",
        definition=definition,
    )


def _types_key(types: str) -> str:
    return " ".join(types.upper().split())


def _types_list(types: str) -> list[str]:
    """``'NUMBER, NUMBER(10,2)'`` as a list of types (commas inside brackets kept)."""
    parts, depth, current = [], 0, ""
    for char in types:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


def _table_action(graph: PipelineGraph, sql: Statements, name: str, state: TargetState) -> Action:
    current = state.objects.get(name)
    statement = (sql.create_table(name),)
    definition = table_definition(sql, name)
    if current is None:
        return Action(ActionKind.CREATE, TABLE, name, statement, definition=definition)
    consumers = tuple(graph.all_downstream(name))
    if current.kind != TABLE:
        return _kind_change(sql, name, TABLE, current, statement, consumers, definition)
    if current.properties.get("broken"):
        return _recreate(name, TABLE, statement, current.properties["broken"], consumers, definition, destroys_data=True)
    desired = definition.fingerprint
    have = current.properties.get("fingerprint")
    if have == desired:
        return Action(ActionKind.UNCHANGED, TABLE, name)
    return Action(
        ActionKind.REPLACE,
        TABLE,
        name,
        statement,
        changes=(Change("definition", have, desired),),
        reason="its generator call or columns changed: the table is recreated and its rows replaced",
        consumers=consumers,
        destroys_data=True,
        definition=definition,
    )


def _recreate(
    name: str, kind: ObjectKind, statements: tuple, why: str, consumers: tuple, definition: Definition,
    *, destroys_data: bool, columns: tuple[str, ...] = (),
) -> Action:
    """``name`` is pipe's but cannot be used as it is (changed outside pipe, or pipe's record of
    it was lost): create it again as declared."""
    return Action(
        ActionKind.REPLACE, kind, name, statements, reason=why, consumers=consumers, destroys_data=destroys_data,
        columns=columns, definition=definition,
    )


def _kind_change(
    sql: Statements, name: str, kind: ObjectKind, current: ObjectState, statements: tuple, consumers: tuple,
    definition: Definition, columns: tuple[str, ...] = (),
) -> Action:
    """``name`` exists as another kind of object (a table where a dynamic table is declared, or
    the reverse): drop it, then create it as declared."""
    drop = sql.drop_dynamic_table(name) if current.kind == DYNAMIC_TABLE else sql.drop_table(name)
    return Action(
        ActionKind.REPLACE,
        kind,
        name,
        (drop, *statements),
        changes=(Change("kind", current.kind, kind),),
        reason=f"it exists as a {current.kind.replace('_', ' ')}",
        consumers=consumers,
        destroys_data=True,
        columns=columns,
        definition=definition,
    )


def _dynamic_table_action(
    graph: PipelineGraph, sql: Statements, name: str, state: TargetState, reinitialised: set[str]
) -> Action:
    definition = dynamic_table_definition(graph, name)
    desired = definition.properties
    columns = tuple(str(c) for c in definition.query.columns or ())
    current = state.objects.get(name)
    create = (sql.create_dynamic_table(name),)
    if current is None:
        return Action(ActionKind.CREATE, DYNAMIC_TABLE, name, create, columns=columns, definition=definition)
    consumers = tuple(graph.all_downstream(name))
    if current.kind != DYNAMIC_TABLE:
        return _kind_change(sql, name, DYNAMIC_TABLE, current, create, consumers, definition, columns)
    if current.properties.get("broken"):
        why = current.properties["broken"]
        return _recreate(name, DYNAMIC_TABLE, create, why, consumers, definition, destroys_data=False, columns=columns)
    differences = DynamicTableProperties.from_record(current.properties).differences(desired)
    replace = [_change(d) for d in differences if d.property in REPLACED]
    if replace:
        return Action(
            ActionKind.REPLACE,
            DYNAMIC_TABLE,
            name,
            create,
            changes=tuple(replace),
            reason="a changed query or refresh mode needs CREATE OR REPLACE: the table reinitialises",
            consumers=consumers,
            columns=columns,
            definition=definition,
        )
    changes = [_change(d) for d in differences]
    statements = []
    altered = {d.property for d in differences if d.property in ALTERED}
    if altered:
        dt = graph.pipeline.dynamic_tables[name]
        statements.append(
            sql.alter_dynamic_table(
                name,
                target_lag=dt.target_lag if "target_lag" in altered else None,
                warehouse=desired.warehouse if "warehouse" in altered else None,
            )
        )
    if any(d.property == "comment" for d in differences):
        statements.append(sql.comment_dynamic_table(name, desired.comment))
    if changes:
        return Action(
            ActionKind.ALTER, DYNAMIC_TABLE, name, tuple(statements), tuple(changes), reason="ALTER keeps the data",
            definition=definition,
        )
    reason = "an upstream table is replaced: it reinitialises" if name in reinitialised else ""
    return Action(ActionKind.UNCHANGED, DYNAMIC_TABLE, name, reason=reason)


def _change(difference) -> Change:
    """A property difference as plan shows it: a query by its first characters, with the whole
    old and new text for the diff."""
    if difference.property == "query":
        return Change(
            "query", _short(difference.current), _short(difference.desired),
            before=difference.current, after=difference.desired,
        )
    return Change(difference.property, difference.current, difference.desired)


def _short(sql: str | None, width: int = 60) -> str | None:
    if sql is None:
        return None
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _prune(graph: PipelineGraph, state: TargetState, sql: Statements) -> list[Action]:
    """Drop objects pipe made that the file no longer declares, readers before what they read
    (dynamic tables in reverse dependency order, then tables, then functions).

    An object that something kept reads (a declared dynamic table, or one pipe did not make) is
    never dropped: dropping it would break its reader.
    """
    pipeline = graph.pipeline
    declared = set(pipeline.object_names)
    functions = {_key(FUNCTION, sql.function_name(n)) for n in pipeline.generators}
    candidates = {
        key: obj
        for key, obj in state.objects.items()
        if key not in declared and key not in functions and obj.properties.get("managed", "true") == "true"
        and obj.kind in (DYNAMIC_TABLE, TABLE, FUNCTION)
    }
    reads = {key: _reads(obj) for key, obj in state.objects.items() if obj.kind == DYNAMIC_TABLE}
    for name in graph.dynamic_tables:
        reads[name] = set(graph.upstream(name)) | reads.get(name, set())
    # What kept objects read is kept, and so is what that reads, transitively.
    kept_reads, todo = set(), [k for k in reads if k not in candidates]
    while todo:
        for name in reads.get(todo.pop(), ()):
            if name not in kept_reads:
                kept_reads.add(name)
                todo.append(name)
    drops = {k: o for k, o in candidates.items() if k not in kept_reads}
    order = {DYNAMIC_TABLE: 0, TABLE: 1, FUNCTION: 2}
    ranked = sorted(drops, key=lambda k: (order[drops[k].kind], -_depth(k, reads, set(drops)), k))
    actions = []
    for key in ranked:
        obj = drops[key]
        if obj.kind == DYNAMIC_TABLE:
            statement = sql.drop_dynamic_table(obj.name)
        elif obj.kind == TABLE:
            statement = sql.drop_table(obj.name)
        else:
            statement = sql.drop_function_named(obj.name, _types_list(obj.properties.get("arg_types", "")))
        actions.append(
            Action(
                ActionKind.DROP,
                obj.kind,
                obj.name,
                (statement,),
                reason="no longer declared (--prune)",
                destroys_data=obj.kind != FUNCTION,
            )
        )
    return actions


def _reads(obj: ObjectState) -> set[str]:
    """The names a dynamic table on the target reads: its ``reads`` property, else its query's tables."""
    listed = obj.properties.get("reads")
    if listed is not None:  # names as SQL writes them (engine.names.sql), comma-separated
        return {names.key(n) for n in names.split(listed)}
    from engine.errors import SqlError
    from engine.sql.parsing import parse_select, table_refs

    try:
        return {ref.name for ref in table_refs(parse_select(obj.properties.get("sql") or ""))}
    except SqlError:  # an unreadable query reads nothing pipe can name
        return set()


def _depth(name: str, reads: Mapping[str, set[str]], among: set[str], seen: frozenset = frozenset()) -> int:
    """How many dropped objects ``name`` reads through, at most: readers go first."""
    if name in seen:
        return 0
    below = [_depth(n, reads, among, seen | {name}) + 1 for n in reads.get(name, ()) if n in among]
    return max(below, default=0)
