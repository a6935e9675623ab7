"""``pipe init``: the new pipeline validates, applies and streams as written; its files teach."""

from __future__ import annotations

import json

import duckdb

from helpers import ROOT


def _rows(db, sql):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_init_writes_a_pipeline_that_validates_applies_and_streams(run_pipe, tmp_path):
    result = run_pipe("init", "orders", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "orders.yaml").is_file() and (tmp_path / "generators" / "orders.py").is_file()
    assert "pipe validate orders.yaml" in result.stdout

    validate = run_pipe("validate", "orders.yaml", cwd=tmp_path)
    assert validate.code == 0 and validate.stderr == ""  # no lint warnings either

    db = tmp_path / "orders.duckdb"
    assert run_pipe("apply", "orders.yaml", "--db", db, cwd=tmp_path).code == 0
    stream = run_pipe("stream", "orders.yaml", "--db", db, "--batches", "2", "--records", "30", "--delay", "0", cwd=tmp_path)
    assert stream.code == 0, stream.stderr
    assert _rows(db, "SELECT count(*) FROM ANALYTICS.ORDERS") == [(500 + 2 * 30,)]
    # DAILY_REVENUE is its query over the base tables, written here independently of pipe.
    expected = _rows(db, """
        SELECT c.region, CAST(o.ordered_at AS DATE), count(*), sum(o.amount), count(*) FILTER (WHERE o.amount >= 100)
        FROM ANALYTICS.ORDERS o JOIN ANALYTICS.CUSTOMERS c USING (customer_id)
        WHERE o.status = 'paid' GROUP BY ALL ORDER BY 1, 2""")
    got = _rows(db, "SELECT * FROM ANALYTICS.DAILY_REVENUE ORDER BY 1, 2")
    assert got == expected and len(got) > 4


def test_the_new_pipeline_plans_every_object_in_dependency_order(run_pipe, tmp_path):
    run_pipe("init", "shop", cwd=tmp_path)
    local = run_pipe("plan", "shop.yaml", "--db", tmp_path / "none.duckdb", "--format", "json", cwd=tmp_path)
    assert local.code == 0, local.stderr
    names = [a["name"] for a in json.loads(local.stdout)["actions"]]
    assert names == ["SHOP_DB", "SHOP_DB.ANALYTICS", "GEN_CUSTOMERS", "GEN_ORDERS", "CUSTOMERS", "ORDERS",
                     "ORDER_FACTS", "DAILY_REVENUE"]


def test_the_comments_teach_the_format_and_the_seeding_rules(run_pipe, tmp_path):
    run_pipe("init", "orders", cwd=tmp_path)
    pipeline = (tmp_path / "orders.yaml").read_text()
    for taught in ("target_lag:", "downstream", "refresh_mode:", "initialize:", "{{ vars.", "{{ records }}",
                   "external: true", "columns:", "pipe schema"):
        assert taught in pipeline, taught
    module = (tmp_path / "generators" / "orders.py").read_text()
    assert "SEED" in module and "NOW" in module and "row count" in module


def test_init_never_overwrites(run_pipe, tmp_path):
    (tmp_path / "orders.yaml").write_text("mine")
    result = run_pipe("init", "orders", cwd=tmp_path)
    assert result.code == 1
    assert result.error_lines == ["error: orders.yaml already exists (pick another name, or move the file away first)"]
    assert (tmp_path / "orders.yaml").read_text() == "mine"
    assert not (tmp_path / "generators").exists()


def test_init_rejects_a_name_that_is_not_an_identifier(run_pipe, tmp_path):
    result = run_pipe("init", "my-pipeline", cwd=tmp_path)
    assert result.code == 1
    assert result.error_lines[0].startswith("error: 'my-pipeline' cannot name a pipeline")
    assert list(tmp_path.iterdir()) == []


def test_the_templates_ship_with_the_package():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"init_templates/*"' in text
