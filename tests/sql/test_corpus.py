"""No false positives: every valid query validates, and every dynamic table gets an output schema.

``tests/fixtures/good/`` holds dynamic-table queries taken from Snowflake's documentation (each
cites its page in a ``# source:`` comment above its ``sql:``), in pipeline files that declare the
tables the examples read. Snowflake runs each of them, so the binder must accept each of them; the
pipelines of the repository must validate too. Where the local engine cannot run a documented
construct, its refusal is the translation's one line naming the construct, never a binding error.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import engine
from engine.errors import PipeError, SqlError
from engine.spec.loader import load_pipeline
from engine.sql.translate import check_translatable

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "tests" / "fixtures" / "good"
CORPUS = sorted(GOOD.glob("*.yaml"))
REPOSITORY = sorted(
    [
        *(ROOT / "pipelines").glob("*.yaml"),
        *(ROOT / "tests" / "fixtures" / "pipelines").glob("*.yaml"),
        *(ROOT / "tests" / "fixtures" / "incremental").glob("*.yaml"),
        *(ROOT / "tests" / "fixtures" / "local").glob("*.yaml"),
    ]
)
SOURCE = re.compile(r"^\s*# source: markdown/en/[\w./-]+\.md\s*$")

# Documented constructs the local engine does not run: (file, dynamic table) -> the construct its
# refusal names. Every other query of the corpus must translate.
LOCAL_REFUSALS = {
    ("aggregate_functions.yaml", "CLERK_WINDOWS"): "ARRAY_AGG as a window function",
    ("aggregate_functions.yaml", "OBJECT_PAIRS"): "FLATTEN column SEQ",
    ("connect_by.yaml", "MANAGEMENT"): "CONNECT BY",
    ("connect_by.yaml", "MANAGEMENT_PATHS"): "function SYS_CONNECT_BY_PATH",
    ("connect_by.yaml", "MANAGEMENT_ROOTS"): "CONNECT BY",
    ("connect_by.yaml", "PARTS"): "CONNECT BY",
    ("dynamic_tables_data_consistency.yaml", "DT_ENRICHED_ORDERS"): "function DYNAMIC_TABLE_REFRESH_BOUNDARY",
    ("dynamic_tables_data_consistency.yaml", "DT_COMPLETED_ORDER_SUMMARY"): "function DYNAMIC_TABLE_REFRESH_BOUNDARY",
    ("lambda_functions.yaml", "LARGE_LINES"): "function FILTER",
    ("lambda_functions.yaml", "LOWER_VALUES"): "function FILTER",
    ("pivot_and_unpivot.yaml", "THREE_QUARTERS"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "FOUR_QUARTERS"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "QUARTER_ALIASES"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "DEFAULT_ON_NULL"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "MONTHS"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "MONTH_ALIASES"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "MONTHS_WITH_NULLS"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "DEPARTMENT_MONTHS"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "REGION_MONTHS"): "PIVOT / UNPIVOT",
    ("pivot_and_unpivot.yaml", "WEST_MONTHS"): "PIVOT / UNPIVOT",
    ("semistructured.yaml", "PATHS"): "FLATTEN column SEQ",
    ("semistructured.yaml", "LEAF_PATHS"): "FLATTEN column SEQ",
}

# Output columns as the cited page prints them in the example's result (names only: the pages show
# values, not types). Snowflake upper-cases unquoted names and keeps quoted ones as written; an
# expression selected without an alias is named by its text, upper-cased.
DOCUMENTED_COLUMNS = {
    # sql-reference/sql/select.md
    ("select.yaml", "ALL_COLUMNS"): ["EMPLOYEE_ID", "LAST_NAME", "FIRST_NAME", "DEPARTMENT_ID"],
    ("select.yaml", "ILIKE_COLUMNS"): ["EMPLOYEE_ID", "DEPARTMENT_ID"],
    ("select.yaml", "EXCLUDE_ONE"): ["EMPLOYEE_ID", "LAST_NAME", "FIRST_NAME"],
    ("select.yaml", "EXCLUDE_TWO"): ["LAST_NAME", "FIRST_NAME"],
    ("select.yaml", "RENAME_ONE"): ["EMPLOYEE_ID", "LAST_NAME", "FIRST_NAME", "DEPARTMENT"],
    ("select.yaml", "RENAME_TWO"): ["ID", "LAST_NAME", "FIRST_NAME", "DEPARTMENT"],
    ("select.yaml", "EXCLUDE_AND_RENAME"): ["ID", "LAST_NAME", "DEPARTMENT"],
    ("select.yaml", "ILIKE_AND_RENAME"): ["EMPLOYEE_ID", "DEPARTMENT"],
    ("select.yaml", "REPLACE_ONE"): ["EMPLOYEE_ID", "LAST_NAME", "FIRST_NAME", "DEPARTMENT_ID"],
    ("select.yaml", "REPLACE_AND_RENAME"): ["EMPLOYEE_ID", "LAST_NAME", "FIRST_NAME", "DEPARTMENT"],
    ("select.yaml", "ILIKE_AND_REPLACE"): ["EMPLOYEE_ID", "DEPARTMENT_ID"],
    ("select.yaml", "EXCLUDE_AND_REPLACE"): ["LAST_NAME", "FIRST_NAME", "DEPARTMENT_ID"],
    ("select.yaml", "QUALIFIED_STARS"): ["EMPLOYEE_ID", "LAST_NAME", "FIRST_NAME", "DEPARTMENT_ID", "DEPARTMENT"],
    # sql-reference/functions/array_agg.md, object_agg.md, count_if.md, mode.md, listagg.md
    ("aggregate_functions.yaml", "ORDER_KEY_ARRAY"): ["ARRAY_AGG(O_ORDERKEY) WITHIN GROUP (ORDER BY O_ORDERKEY ASC)"],
    ("aggregate_functions.yaml", "ORDER_STATUSES"): [
        "ARRAY_AGG(DISTINCT O_ORDERSTATUS) WITHIN GROUP (ORDER BY O_ORDERSTATUS ASC)",
    ],
    ("aggregate_functions.yaml", "CLERKS_BY_STATUS"): [
        "O_ORDERSTATUS", "ARRAYAGG(O_CLERK) WITHIN GROUP (ORDER BY O_TOTALPRICE DESC)",
    ],
    ("aggregate_functions.yaml", "CLERK_WINDOWS"): ["O_ORDERKEY", "RESULT"],
    ("aggregate_functions.yaml", "OBJECTS_BY_GROUP"): ["OBJECT_AGG(K, V)"],
    ("aggregate_functions.yaml", "OBJECT_PAIRS"): ["SEQ", "KEY", "VALUE"],
    ("aggregate_functions.yaml", "COUNT_ALL"): ["COUNT_IF(TRUE)"],
    ("aggregate_functions.yaml", "COUNT_GREATER"): ["COUNT_IF(J_COL > I_COL)"],
    ("aggregate_functions.yaml", "COUNT_COMPLETE"): ["COUNT_IF(I_COL IS NOT NULL AND J_COL IS NOT NULL)"],
    ("aggregate_functions.yaml", "MODE_OF_ALL"): ["MODE(V)"],
    ("aggregate_functions.yaml", "MODE_BY_GROUP"): ["K", "MODE(V)"],
    ("aggregate_functions.yaml", "MODE_WINDOW"): ["K", "V", "MODE(V) OVER (PARTITION BY K)"],
    ("aggregate_functions.yaml", "DISTINCT_KEYS_LIST"): ["LISTAGG(DISTINCT O_ORDERKEY, ' ')"],
    ("aggregate_functions.yaml", "SPANISH_PHRASES"): ["ES_COLLATION"],
    # sql-reference/sql/select.md
    ("select.yaml", "POSITIONAL_COLUMN"): ["$2"],
    # sql-reference/constructs/join.md
    ("joins.yaml", "NATURAL_INNER"): ["ID", "NAME", "VALUE"],
    ("joins.yaml", "NATURAL_FULL_OUTER"): ["ID", "NAME", "VALUE"],
    ("joins.yaml", "USING_STANDARD"): ["USERID"],
    ("joins.yaml", "USING_NONSTANDARD"): ["UI_L", "UI_R"],
    # sql-reference/constructs/qualify.md
    ("group_by_and_qualify.yaml", "FIRST_BY_NESTING"): ["I", "P", "O", "ROW_NUM"],
    ("group_by_and_qualify.yaml", "FIRST_BY_ALIAS"): ["I", "P", "O", "ROW_NUM"],
    # sql-reference/constructs/pivot.md and unpivot.md
    ("pivot_and_unpivot.yaml", "THREE_QUARTERS"): ["EMPID", "'2023_Q1'", "'2023_Q2'", "'2023_Q3'"],
    ("pivot_and_unpivot.yaml", "QUARTER_ALIASES"): ["EMPID", "Q1", "Q2", "Q3", "Q4"],
    ("pivot_and_unpivot.yaml", "MONTHS"): ["EMPID", "DEPT", "MONTH", "SALES"],
    ("pivot_and_unpivot.yaml", "REGION_MONTHS"): ["REGION", "MONTH", "TOTAL_SALES"],
    ("pivot_and_unpivot.yaml", "WEST_MONTHS"): ["LAST_NAME", "REGION", "MONTH", "SALES"],
    # user-guide/querying-semistructured.md and sql-reference/functions/flatten.md
    ("semistructured.yaml", "KEY_NAMES"): ["Path", "Type", "Count"],
    ("semistructured.yaml", "DEALERSHIPS"): ["SRC:DEALERSHIP"],
    ("semistructured.yaml", "SALESPEOPLE_DOT"): ["SRC:SALESPERSON.NAME"],
    ("semistructured.yaml", "SALESPEOPLE_BRACKETS"): ["SRC['SALESPERSON']['NAME']"],
    ("semistructured.yaml", "VEHICLES"): ["SRC:CUSTOMER[0].NAME", "SRC:VEHICLE[0]"],
    ("semistructured.yaml", "PRICES"): ["SRC:CUSTOMER[0].NAME", "SRC:VEHICLE[0].PRICE"],
    ("semistructured.yaml", "DEALERSHIP_TEXT"): ["SRC:DEALERSHIP", "SRC:DEALERSHIP::VARCHAR"],
    ("semistructured.yaml", "LAST_COLORS"): ["V", "GET(V, ARRAY_SIZE(V)-1)"],
    ("semistructured.yaml", "MAKES"): ["GET_PATH(SRC, 'VEHICLE[0]:MAKE')"],
    ("semistructured.yaml", "CUSTOMERS"): ["Customer Name", "Address"],
    ("semistructured.yaml", "EXTRAS"): ["MAKE", "MODEL", "Extras Purchased"],
    ("semistructured.yaml", "CONTACTS"): ["ID", "Contact", "Type", "Details"],
    ("semistructured.yaml", "DOG_PAIRS"): ["V", "KEY", "VALUE"],
    ("semistructured.yaml", "CONTACT_TYPES"): ["ID", "CONTACT_TYPE", "CONTACT_DETAILS"],
    # sql-reference/constructs/connect-by.md
    ("connect_by.yaml", "MANAGEMENT_PATHS"): [
        "SYS_CONNECT_BY_PATH(TITLE, ' -> ')", "EMPLOYEE_ID", "MANAGER_ID", "TITLE",
    ],
    ("connect_by.yaml", "MANAGEMENT_ROOTS"): ["EMPLOYEE_ID", "MANAGER_ID", "TITLE", "ROOT_TITLE"],
    ("connect_by.yaml", "PARTS"): ["DESCRIPTION", "QUANTITY", "COMPONENT_ID", "PARENT_COMPONENT_ID", "PATH"],
    # sql-reference/constructs/group-by-rollup.md
    ("group_by_and_qualify.yaml", "PROFIT_ROLLUP"): ["STATE", "CITY", "PROFIT"],
    # sql-reference/constructs/values.md
    ("values.yaml", "NUMBERS"): ["COLUMN1", "COLUMN2"],
    ("values.yaml", "NUMBERS_RENAMED"): ["C1", "C2"],
    ("values.yaml", "NUMBERS_BY_NAME_AND_POSITION"): ["COLUMN1", "$2"],
    # user-guide/data-engineering/row-timestamps.md
    ("row_timestamps.yaml", "PROCESSED_EVENTS"): ["EVENT_ID", "EVENT_TYPE", "EVENT_DATA", "SOURCE_LAST_COMMIT_TIME"],
    # user-guide/dynamic-tables/modify.md
    ("dynamic_tables_modify.yaml", "DT_ORDERS"): ["ORDER_ID", "CUSTOMER_ID", "ORDER_DATE", "PRODUCT_NAME", "QUANTITY"],
    # user-guide/querying-time-series-data.md
    ("time_series.yaml", "READINGS_PER_DEVICE"): ["DEVICE_ID", "COUNT(*)"],
    ("time_series.yaml", "MINUTE_SLICES"): ["MINUTE_SLICE", "DEVICE_ID", "COUNT(*)", "AVG_TEMP"],
    ("time_series.yaml", "DAILY_AMOUNTS"): ["SLICED_TS", "TRUCK_ID", "LOCATION_ID", "AVG_AMOUNT"],
    ("time_series.yaml", "MOVING_PRECIPITATION"): ["CITY", "START_TIME", "PRECIP", "MOVING_SUM_PRECIP"],
    ("time_series.yaml", "LAST_OBSERVATION"): ["START_TIME", "PRECIP", "CITY", "COUNTY"],
    ("time_series.yaml", "OLDEST_BY_CITY"): ["CITY", "OLDEST_PRECIP"],
    # user-guide/functions-window-using.md
    ("window_functions.yaml", "STORE_RANKS"): ["CITY", "BRANCH_ID", "NET_PROFIT", "RANK"],
    ("window_functions.yaml", "SALES_SO_FAR"): ["DAY", "SALES_TODAY", "SALES SO FAR THIS WEEK"],
    # user-guide/dynamic-tables/create.md ("Query the pipeline output")
    ("dynamic_tables_create.yaml", "DT_ORDERS_DAILY"): [
        "ORDER_DAY", "REGION", "SEGMENT", "ORDER_COUNT", "DAILY_REVENUE",
    ],
    # user-guide/dynamic-tables/migrate-streams-tasks.md
    ("dynamic_tables_migrate.yaml", "DT_CLEAN_ORDERS"): [
        "ORDER_ID", "CUSTOMER_ID", "ORDER_DATE", "PRODUCT_NAME", "QUANTITY", "UNIT_PRICE", "LINE_TOTAL", "ORDER_STATUS",
    ],
    ("dynamic_tables_migrate.yaml", "DT_DIM_CUSTOMERS_SCD1"): [
        "CUSTOMER_ID", "CUSTOMER_NAME", "REGION", "SEGMENT", "UPDATED_AT",
    ],
}


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _runnable(path: Path, tmp_path: Path) -> Path:
    """``path``, or a copy beside the repository's generator modules when its own are elsewhere."""
    if (path.parent / "generators").is_dir() or "generators/" not in path.read_text():
        return path
    shutil.copytree(ROOT / "pipelines" / "generators", tmp_path / "generators")
    return Path(shutil.copy(path, tmp_path / path.name))


def _schemas_unknowable(project, name: str) -> bool:
    """Whether ``name`` reads, directly or not, an external table declared without columns."""
    tables = project.pipeline.tables
    return any(
        source in tables and tables[source].external and tables[source].columns is None
        for source in project.graph.all_upstream(name)
    )


def _dynamic_tables() -> list[tuple[Path, str]]:
    return [(path, name) for path in CORPUS for name in load_pipeline(path).dynamic_tables]


def test_the_corpus_holds_at_least_40_documented_queries():
    assert len(_dynamic_tables()) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_every_corpus_query_cites_its_page(path):
    lines = path.read_text().splitlines()
    uncited = []
    for number, line in enumerate(lines):
        if not re.match(r"^\s+sql:", line):
            continue
        above = number - 1
        comments = []
        while above >= 0 and lines[above].strip().startswith("#"):
            comments.append(lines[above])
            above -= 1
        if not any(SOURCE.match(comment) for comment in comments):
            uncited.append(number + 1)
    assert uncited == [], f"sql: without a '# source: markdown/en/….md' comment above it at lines {uncited}"


@pytest.mark.parametrize("path", CORPUS + REPOSITORY, ids=_id)
def test_validates_for_snowflake_with_every_output_schema(path, tmp_path):
    project = engine.validate(_runnable(path, tmp_path), target="snowflake")
    queries = project.graph.queries
    assert sorted(queries) == sorted(project.pipeline.dynamic_tables)
    for name, query in queries.items():
        assert query.problems == ()
        if not _schemas_unknowable(project, name):
            assert query.columns, f"{name} has no output schema"
            assert all(column.name for column in query.columns), f"{name} has an unnamed column"


@pytest.mark.parametrize("path", REPOSITORY, ids=_id)
def test_the_repository_pipelines_validate_for_the_local_engine(path, tmp_path):
    engine.validate(_runnable(path, tmp_path), target="local")


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_the_local_engine_runs_the_corpus_or_names_what_it_cannot(path):
    refused = {}
    for name, dt in load_pipeline(path).dynamic_tables.items():
        try:
            check_translatable(dt.sql)
        except SqlError as exc:
            refused[name] = str(exc)
    expected = {name: construct for (file, name), construct in LOCAL_REFUSALS.items() if file == path.name}
    assert sorted(refused) == sorted(expected)
    for name, message in refused.items():
        assert message.startswith(f"{expected[name]} is not supported by the local engine"), message
    if not refused:
        engine.validate(path, target="local")
        return
    with pytest.raises(SqlError) as raised:
        engine.validate(path, target="local")
    message = str(raised.value)
    first = next(name for name in load_pipeline(path).dynamic_tables if name in refused)
    assert f": {first}: {expected[first]} is not supported by the local engine" in message
    assert "\n" not in message


@pytest.mark.parametrize("file, name", sorted(DOCUMENTED_COLUMNS), ids="{0[0]}:{0[1]}".format)
def test_output_columns_are_the_documented_ones(file, name):
    project = engine.validate(GOOD / file, target="snowflake")
    columns = project.graph.queries[name].columns
    assert [column.name for column in columns] == DOCUMENTED_COLUMNS[(file, name)]


def test_a_wrong_column_in_a_corpus_query_is_still_reported(tmp_path):
    """The corpus proves nothing valid is rejected; this proves the same files still catch a typo."""
    text = (GOOD / "select.yaml").read_text().replace("SELECT last_name FROM", "SELECT last_nam FROM")
    broken = tmp_path / "select.yaml"
    broken.write_text(text)
    with pytest.raises(PipeError, match="unknown column LAST_NAM"):
        engine.validate(broken, target="snowflake")
