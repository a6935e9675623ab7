"""Running generators locally: module loading, seeding, bulk insertion, UDTF source, errors."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from engine.errors import BackendError, SpecError
from engine.generators import (
    duckdb_type,
    generate_rows,
    generator_columns,
    insert_generated,
    load_module,
    udtf_source,
)
from engine.spec import load_pipeline, load_pipeline_text

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "pipelines" / "engagement.yaml"
NOW = datetime(2025, 6, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline(PIPELINE)


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def make_pipeline(tmp_path: Path, source: str, returns: dict, args: dict | None = None, handler: str = "Gen"):
    """A one-generator pipeline (gen_t) whose module is ``source``."""
    (tmp_path / "gen.py").write_text(textwrap.dedent(source))
    text = f"""
        version: 1
        name: t
        snowflake: {{database: D, schema: S, warehouse: W}}
        seed: 7
        generators:
          gen_t:
            module: gen.py
            handler: {handler}
            args: {json.dumps(args if args is not None else {"n": "number"})}
            returns: {json.dumps(returns)}
    """
    return load_pipeline_text(textwrap.dedent(text), file=str(tmp_path / "t.yaml"), base_dir=tmp_path)


def create_table(con, table, pipeline, generator):
    columns = generator_columns(pipeline, generator)
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{c.sql_name} {c.duckdb_type}' for c in columns)})")


def table_names(con) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


# --- modules and the UDTF source ----------------------------------------------------------------


def test_load_module_sets_the_seed_and_caches_per_path(pipeline):
    first = load_module(pipeline, "gen_members")
    assert first.SEED == pipeline.seed
    assert load_module(pipeline, "GEN_INTERACTIONS") is first  # one file, one module


def test_load_module_reimports_a_changed_file(tmp_path):
    source = "class Gen:\n    def process(self, n):\n        yield (VALUE,)\nVALUE = {}\n"
    p = make_pipeline(tmp_path, source.format(1), {"x": "number"})
    assert list(generate_rows(p, "gen_t", [1], seed=1)) == [(1,)]
    (tmp_path / "gen.py").write_text(source.format(2))
    os.utime(tmp_path / "gen.py", ns=(1, 10**18))  # a new mtime even within the clock's resolution
    assert list(generate_rows(p, "gen_t", [1], seed=1)) == [(2,)]


def test_udtf_source_is_the_module_with_the_seed_appended(pipeline):
    source = udtf_source(pipeline, "gen_interactions")
    module_text = (PIPELINE.parent / "generators" / "engagement.py").read_text()
    assert source.startswith(module_text.rstrip())
    assert source.endswith("\n\nSEED = 42")


def test_udtf_source_rejects_dollar_quotes(tmp_path):
    p = make_pipeline(tmp_path, 'class Gen:\n    def process(self, n):\n        yield ("$$",)\n', {"x": "varchar"})
    with pytest.raises(SpecError, match=r"\$\$"):
        udtf_source(p, "gen_t")


def test_generator_module_imports_only_stdlib_and_faker_at_top_level():
    tree = ast.parse((PIPELINE.parent / "generators" / "engagement.py").read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"faker"}


def test_udtf_source_runs_as_snowflake_would_without_numpy_or_engine(pipeline, tmp_path):
    """Exec the embedded body in a bare interpreter where numpy and engine cannot be imported."""
    script = tmp_path / "udtf.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.modules["numpy"] = None
        sys.modules["engine"] = None
        namespace = {{}}
        exec(compile({udtf_source(pipeline, "gen_interactions")!r}, "udtf", "exec"), namespace)
        assert namespace["SEED"] == 42
        members = list(namespace["Members"]().process(3))
        resources = list(namespace["Resources"]().process(3))
        events = list(namespace["Interactions"]().process(10, 1))
        print(len(members), len(resources), len(events), type(events[0][1]).__name__)
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "3", "10", "dict"]


# --- generate_rows and seeding ------------------------------------------------------------------


def test_generate_rows_uses_the_given_seed_and_restores_the_module(pipeline):
    module = load_module(pipeline, "gen_members")
    a = list(generate_rows(pipeline, "gen_members", [5], seed=1, now=NOW))
    b = list(generate_rows(pipeline, "gen_members", [5], seed=2, now=NOW))
    assert a != b
    assert a == list(generate_rows(pipeline, "gen_members", [5], seed=1, now=NOW))
    assert module.SEED == pipeline.seed and module.NOW is None


def test_interleaved_calls_keep_their_own_seed(pipeline):
    first = generate_rows(pipeline, "gen_interactions", [50, 1], seed=1, now=NOW)
    second = generate_rows(pipeline, "gen_interactions", [50, 1], seed=2, now=NOW)
    assert list(first) == list(generate_rows(pipeline, "gen_interactions", [50, 1], seed=1, now=NOW))
    assert list(second) == list(generate_rows(pipeline, "gen_interactions", [50, 1], seed=2, now=NOW))


def test_arguments_are_coerced_like_snowflake_numbers(pipeline):
    as_text = list(generate_rows(pipeline, "gen_interactions", ["12", 1.0], seed=1, now=NOW))
    assert as_text == list(generate_rows(pipeline, "gen_interactions", [12, 1], seed=1, now=NOW))


@pytest.mark.parametrize("args,message", [
    ([10], r"takes 2 argument\(s\) \(num_records, ndays\) but 1 given"),
    (["ten", 1], r"argument num_records \(NUMBER\): 'ten' is not"),
    ([1.5, 1], r"argument num_records"),
])
def test_bad_arguments(pipeline, args, message):
    with pytest.raises(BackendError, match=message):
        generate_rows(pipeline, "gen_interactions", args, seed=1)


def test_unknown_generator(pipeline):
    with pytest.raises(BackendError, match="unknown generator gen_nope"):
        generate_rows(pipeline, "gen_nope", [], seed=1)


# --- insert_generated ---------------------------------------------------------------------------


def test_column_types_map_to_duckdb():
    assert [duckdb_type(t) for t in ("number", "NUMBER(10,2)", "varchar", "date", "timestamp", "variant",
                                     "array", "object", "float", "boolean")] == [
        "BIGINT", "DECIMAL(10,2)", "VARCHAR", "DATE", "TIMESTAMP", "JSON", "JSON", "JSON", "DOUBLE", "BOOLEAN"]


def test_insert_appends_rows_in_order(pipeline, con):
    create_table(con, "RAW", pipeline, "gen_interactions")
    assert insert_generated(con, "RAW", pipeline, "gen_interactions", [1000, 5], seed=1, now=NOW,
                            order_by=["MEMBER_ID"]) == 1000
    ids = [m for (m,) in con.execute("SELECT MEMBER_ID FROM RAW ORDER BY rowid").fetchall()]
    assert ids == sorted(ids)
    assert insert_generated(con, "raw", pipeline, "gen_interactions", [10, 5], seed=1, now=NOW) == 10
    assert con.execute("SELECT count(*) FROM RAW").fetchone() == (1010,)
    assert table_names(con) == {"RAW"}  # no staging left behind


def test_insert_members_gives_typed_columns(pipeline, con):
    create_table(con, "MEMBERS", pipeline, "gen_members")
    insert_generated(con, "MEMBERS", pipeline, "gen_members", [20], seed=1, now=NOW, order_by=["member_id"])
    described = con.execute("DESCRIBE MEMBERS").fetchall()
    assert [(d[0], d[1]) for d in described] == [("MEMBER_ID", "BIGINT"), ("EMAIL", "VARCHAR"), ("NAME", "VARCHAR"),
                                                 ("MEMBER_TYPE", "VARCHAR"), ("SIGNUP_DATE", "DATE"),
                                                 ("REGION", "VARCHAR")]
    assert con.execute("SELECT * FROM MEMBERS ORDER BY rowid").fetchall() == list(
        generate_rows(pipeline, "gen_members", [20], seed=1, now=NOW))


def test_insert_zero_rows(pipeline, con):
    create_table(con, "RAW", pipeline, "gen_interactions")
    assert insert_generated(con, "RAW", pipeline, "gen_interactions", [0, 1], seed=1) == 0
    assert insert_generated(con, "RAW", pipeline, "gen_interactions", [0, 1], seed=1, fast=False) == 0


def test_insert_into_a_missing_table(pipeline, con):
    with pytest.raises(BackendError, match=r"generator gen_interactions: loading its rows into NOPE failed"):
        insert_generated(con, "NOPE", pipeline, "gen_interactions", [10, 1], seed=1)


def test_unknown_order_by_column(pipeline, con):
    with pytest.raises(BackendError, match="no column membr_id.*did you mean MEMBER_ID"):
        insert_generated(con, "X", pipeline, "gen_interactions", [10, 1], seed=1, order_by=["membr_id"])


ALL_TYPES = {"i": "number", "d": "number(10,2)", "f": "float", "s": "varchar", "b": "boolean", "dt": "date",
             "ts": "timestamp", "v": "variant", "a": "array"}
ALL_TYPES_MODULE = """
    import datetime, decimal
    class Gen:
        def process(self, n):
            for i in range(n):
                yield (i, decimal.Decimal("1.25") * i, i / 2, f"s{i}", i % 2 == 0, datetime.date(2024, 1, 1 + i),
                       datetime.datetime(2024, 1, 1, i), {"k": i, "t": "x"}, [i, "y"])
            yield (None,) * 9
"""


def test_every_column_type_round_trips(tmp_path, con):
    p = make_pipeline(tmp_path, ALL_TYPES_MODULE, ALL_TYPES)
    create_table(con, "T", p, "gen_t")
    assert insert_generated(con, "T", p, "gen_t", [3], seed=1) == 4
    got = con.execute("SELECT * EXCLUDE (V, A), CAST(V AS VARCHAR), CAST(A AS VARCHAR) FROM T ORDER BY rowid").fetchall()
    assert got[2] == (2, Decimal("2.50"), 1.0, "s2", True, date(2024, 1, 3), datetime(2024, 1, 1, 2),
                      '{"k":2,"t":"x"}', '[2,"y"]')
    assert got[3] == (None,) * 9


FAST_TYPES = {"i": "number", "f": "float", "s": "varchar", "b": "boolean", "dt": "date", "ts": "timestamp_ntz",
              "v": "variant"}
FAST_TYPES_MODULE = """
    import datetime
    class Gen:
        def process(self, n):
            for i in range(n):
                yield (i, i / 2, f"s{i}", i % 2 == 0, datetime.date(2024, 1, 1 + i), datetime.datetime(2024, 1, 1, i),
                       {"k": i, "at": datetime.datetime(2024, 1, 1, i).isoformat(), "on": f"2024-01-0{1 + i}",
                        "ok": i % 2 == 0})
            yield (None, None, None, None, None, None, {"k": None, "at": None, "on": None, "ok": None})

        def process_columns(self, n):
            import numpy as np
            null = np.ma.masked_array
            mask = [False] * n + [True]
            i = np.arange(n + 1)
            hours = np.datetime64("2024-01-01T00:00:00") + (i * 3600).astype("timedelta64[s]")
            days = np.datetime64("2024-01-01") + i.astype("timedelta64[D]")
            return {
                "i": null(i, mask), "f": null(i / 2, mask),
                "s": np.array([f"s{k}" for k in range(n)] + [None], dtype=object),
                "b": null(i % 2 == 0, mask), "dt": null(days, mask), "ts": null(hours, mask),
                "v": {"k": null(i, mask), "at": null(hours, mask), "on": null(days, mask), "ok": null(i % 2 == 0, mask)},
            }
"""


def test_fast_path_column_types_give_the_udtf_rows(tmp_path, con):
    p = make_pipeline(tmp_path, FAST_TYPES_MODULE, FAST_TYPES)
    for table, fast in (("FAST", True), ("SLOW", False)):
        create_table(con, table, p, "gen_t")
        assert insert_generated(con, table, p, "gen_t", [3], seed=1, fast=fast) == 4
    fetch = "SELECT * EXCLUDE (V), CAST(V AS VARCHAR) FROM {} ORDER BY rowid"
    fast, slow = con.execute(fetch.format("FAST")).fetchall(), con.execute(fetch.format("SLOW")).fetchall()
    assert fast == slow
    assert fast[1] == (1, 0.5, "s1", False, date(2024, 1, 2), datetime(2024, 1, 1, 1),
                       '{"k":1,"at":"2024-01-01T01:00:00","on":"2024-01-02","ok":false}')


# --- errors -------------------------------------------------------------------------------------

RAISING = """
    class Gen:
        def process(self, n):
            for i in range(n):
                if i == 3:
                    raise ZeroDivisionError("boom")
                yield (i,)
"""
WRONG_WIDTH = """
    class Gen:
        def process(self, n):
            yield (1,)
            yield (2, 3)
"""
BAD_VALUE = """
    class Gen:
        def process(self, n):
            yield (1, "a")
            yield ("two", "b")
"""


@pytest.mark.parametrize("source,returns,message", [
    (RAISING, {"x": "number"}, r"generator gen_t, row 4: process raised ZeroDivisionError: boom"),
    (WRONG_WIDTH, {"x": "number"}, r"generator gen_t, row 2: 2 values for 1 columns \(x\)"),
    (BAD_VALUE, {"x": "number", "y": "varchar"},
     r"generator gen_t, row 2, column x \(NUMBER\): expected an integer, got str 'two'"),
    ("class Gen:\n    def process(self, n):\n        yield (2**64,)\n", {"x": "number"},
     r"row 1, column x \(NUMBER\): 18446744073709551616 does not fit a 64-bit integer"),
    ("import datetime\nclass Gen:\n    def process(self, n):\n        yield ({'t': datetime.date.today()},)\n",
     {"v": "variant"}, r"row 1, column v \(VARIANT\): not JSON-serialisable"),
    ("class Gen:\n    def process(self, n):\n        yield 5\n", {"x": "number"},
     r"row 1: yielded a int, not a tuple"),
    ("class Gen:\n    def __init__(self):\n        raise RuntimeError('no')\n    def process(self, n):\n        yield (1,)\n",
     {"x": "number"}, r"generator gen_t: Gen\(\) raised RuntimeError: no"),
])
def test_generator_errors_name_the_generator_and_row(tmp_path, con, source, returns, message):
    p = make_pipeline(tmp_path, source, returns)
    create_table(con, "T", p, "gen_t")
    with pytest.raises(BackendError, match=message) as caught:
        insert_generated(con, "T", p, "gen_t", [10], seed=1)
    assert con.execute("SELECT count(*) FROM T").fetchone() == (0,)  # nothing half-inserted
    assert table_names(con) == {"T"}
    assert caught.value.location.file == str(tmp_path / "gen.py")
    with pytest.raises(BackendError, match=message):
        list(generate_rows(p, "gen_t", [10], seed=1))


def test_a_raising_handler_points_at_its_line(tmp_path):
    p = make_pipeline(tmp_path, RAISING, {"x": "number"})
    with pytest.raises(BackendError) as caught:
        list(generate_rows(p, "gen_t", [10], seed=1))
    assert caught.value.location.line == 6
    assert str(caught.value).startswith(f"{tmp_path / 'gen.py'}:6: generator gen_t, row 4")


def test_a_module_that_fails_to_import(tmp_path):
    p = make_pipeline(tmp_path, "import numpy_not_here\nclass Gen:\n    def process(self, n):\n        yield (1,)\n",
                      {"x": "number"})
    with pytest.raises(BackendError, match="gen_t: importing its module failed: ModuleNotFoundError"):
        generate_rows(p, "gen_t", [1], seed=1)


COLUMNAR = """
    import numpy as np
    class Gen:
        def process(self, n):
            for i in range(n):
                yield (i, {{"s": str(i)}})
        def process_columns(self, n):
            {body}
"""


@pytest.mark.parametrize("body,message", [
    ('return {"x": np.arange(n), "v": {"s": np.array([str(i) for i in range(n)], dtype=object)}}', None),
    ('return {"x": np.arange(n)}', r"process_columns returned the wrong columns \(missing: \['V'\]"),
    ('return {"x": np.arange(n) * 1.5, "v": {}}', r"column x: process_columns: a float64 array does not fit NUMBER"),
    ('return {"x": np.arange(n + 1), "v": {"s": np.array(["a"] * n, dtype=object)}}',
     r"column v.s: process_columns: has 4 rows, the columns before it 5"),
    ('return {"x": np.arange(n), "v": {"s": np.array(["a", "b", 3, "c"], dtype=object)}}',
     r"generator gen_t, row 3, column v.s: process_columns: expected str or None, got int 3"),
    ('return {"x": np.arange(n), "v": [1, 2]}', r"column v: process_columns: a VARIANT column must be a dict"),
    ('raise ValueError("vectorised boom")', r"generator gen_t: process_columns raised ValueError: vectorised boom"),
])
def test_fast_path_checks(tmp_path, con, body, message):
    p = make_pipeline(tmp_path, COLUMNAR.format(body=body), {"x": "number", "v": "variant"})
    create_table(con, "T", p, "gen_t")
    if message is None:
        assert insert_generated(con, "T", p, "gen_t", [4], seed=1) == 4
        assert con.execute("SELECT X, CAST(V AS VARCHAR) FROM T").fetchall()[-1] == (3, '{"s":"3"}')
        return
    with pytest.raises(BackendError, match=message):
        insert_generated(con, "T", p, "gen_t", [4], seed=1)
    assert con.execute("SELECT count(*) FROM T").fetchone() == (0,)


CHUNKED = """
    import numpy as np
    SEED = None
    class Gen:
        def process(self, n):
            for i in range(n):
                yield (i, {{"s": str(i)}})
        def process_columns(self, n):
            seed = SEED
            for start in range(0, n, 3):
                x = np.arange(start, min(start + 3, n))
                {body}
"""
CHUNK_OK = 'yield {"x": x + 0 * seed, "v": {"s": np.array([str(i) for i in x], dtype=object)}}'


def test_fast_path_chunks_are_inserted_in_turn(tmp_path, con):
    """A process_columns generator's chunks join up to every row, read with SEED set at the start."""
    p = make_pipeline(tmp_path, CHUNKED.format(body=CHUNK_OK), {"x": "number", "v": "variant"})
    create_table(con, "T", p, "gen_t")
    assert insert_generated(con, "T", p, "gen_t", [10], seed=1) == 10
    assert con.execute("SELECT X, V->>'s' FROM T ORDER BY X").fetchall() == [(i, str(i)) for i in range(10)]


def test_fast_path_chunks_in_the_order_asked(tmp_path, con):
    body = 'yield {"x": x[::-1] * -1, "v": {"s": np.array([str(i) for i in x[::-1]], dtype=object)}}'
    p = make_pipeline(tmp_path, CHUNKED.format(body=body), {"x": "number", "v": "variant"})
    create_table(con, "T", p, "gen_t")
    assert insert_generated(con, "T", p, "gen_t", [7], seed=1, order_by=["x"]) == 7
    assert [x for (x,) in con.execute("SELECT X FROM T").fetchall()] == [-6, -5, -4, -3, -2, -1, 0]


@pytest.mark.parametrize("body,message", [
    ('yield {"x": x, "v": {"s": np.array([str(i) if i != 7 else 7 for i in x], dtype=object)}}',
     r"generator gen_t, row 8, column v.s: process_columns: expected str or None, got int 7"),
    ('if start == 6: raise ValueError("third chunk")\n                ' + CHUNK_OK,
     r"generator gen_t: process_columns raised ValueError: third chunk"),
])
def test_a_bad_later_chunk_names_its_row_and_its_transaction_keeps_nothing(tmp_path, con, body, message):
    p = make_pipeline(tmp_path, CHUNKED.format(body=body), {"x": "number", "v": "variant"})
    create_table(con, "T", p, "gen_t")
    con.begin()
    with pytest.raises(BackendError, match=message):
        insert_generated(con, "T", p, "gen_t", [10], seed=1)
    con.rollback()
    assert con.execute("SELECT count(*) FROM T").fetchone() == (0,)


def test_a_chunk_is_let_go_once_inserted_even_inside_a_transaction(tmp_path, con):
    """Each chunk's arrays are released when its INSERT ends, not at COMMIT: a large apply (one
    transaction) holds one chunk at a time. Checked with weak references to the arrays."""
    import weakref

    import numpy as np

    from engine.generators.columnar import ColumnarSelect
    from engine.generators.load import insert_columns
    from engine.generators.values import column

    class Tracked(np.ndarray):
        pass

    refs = []

    def chunks():
        for start in range(0, 40, 10):
            # the chunk before the last may not be held any more (the last one is the loader's
            # loop variable until this one comes)
            assert all(ref() is None for ref in refs[:-1]), "an inserted chunk is still held"
            array = np.arange(start, start + 10).view(Tracked)
            refs.append(weakref.ref(array))
            yield ColumnarSelect(rows=10, arrays={"c0": array}, expressions=["CAST(c0 AS BIGINT)"])
            del array

    con.execute("CREATE TABLE N (X BIGINT)")
    con.begin()
    assert insert_columns(con, "N", [column("x", "number")], chunks()) == 40
    con.commit()
    assert con.execute("SELECT count(*), sum(X) FROM N").fetchone() == (40, sum(range(40)))
