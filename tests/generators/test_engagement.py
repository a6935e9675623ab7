"""The engagement generators: realistic, consistent, reproducible data; fast path = UDTF path."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pytest

from engine.generators import generate_rows, generator_columns, insert_generated, load_module
from engine.spec import load_pipeline

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "engagement.yaml"
NOW = datetime(2025, 6, 1, 12, 0, 0, 123456)

MEMBER_TYPES = {"free", "registered", "premium"}
REGIONS = {"Northeast", "Mid-Atlantic", "Southeast", "Midwest", "Southwest", "West"}
CONTENT_TYPES = {"article", "video", "tool", "webinar", "guide"}
TOPICS = {"focus", "reading", "learning", "parenting", "school"}
DIFFICULTIES = {"beginner", "intermediate", "advanced"}
EVENT_TYPES = {"page_view", "video_start", "video_complete", "download", "share", "bookmark"}
DEVICES = {"desktop", "mobile", "tablet"}
EVENT_KEYS = ["resource_id", "event_type", "session_id", "timestamp", "engagement_seconds", "device_type"]
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")

# Chi-square critical values at p = 0.001 by degrees of freedom: a real difference in
# distributions fails these; fixed seeds make every check deterministic.
CHI2_CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32, 8: 26.12, 9: 27.88}


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline(PIPELINE)


def rows(pipeline, name, *args, seed=42, now=NOW):
    return list(generate_rows(pipeline, name, list(args), seed=seed, now=now))


def fast_rows(pipeline, n, ndays, *, seed=42, now=NOW):
    """The fast path's columns for gen_interactions, as the rows the UDTF path yields."""
    module = load_module(pipeline, "gen_interactions")
    saved = module.SEED, module.NOW
    module.SEED, module.NOW = seed, now
    try:
        chunks = list(module.Interactions().process_columns(n, ndays))
    finally:
        module.SEED, module.NOW = saved
    rows = []
    for columns in chunks:
        events = columns["event_data"]
        values = {key: [str(v) for v in array] if array.dtype.kind == "M" else array.tolist()
                  for key, array in events.items()}
        rows += [(member_id, {key: values[key][i] for key in events})
                 for i, member_id in enumerate(columns["member_id"].tolist())]
    return rows


def create_table(con, table, pipeline, generator):
    columns = generator_columns(pipeline, generator)
    con.execute(f"CREATE TABLE {table} ({', '.join(f'{c.sql_name} {c.duckdb_type}' for c in columns)})")


# --- reproducibility ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,args", [("gen_members", [50]), ("gen_resources", [30]), ("gen_interactions", [500, 7])])
def test_same_seed_and_now_give_identical_rows(pipeline, name, args):
    assert rows(pipeline, name, *args) == rows(pipeline, name, *args)


@pytest.mark.parametrize("name,args", [("gen_members", [50]), ("gen_resources", [30]), ("gen_interactions", [500, 7])])
def test_different_seeds_give_different_rows(pipeline, name, args):
    assert rows(pipeline, name, *args, seed=1) != rows(pipeline, name, *args, seed=2)


def without_time(events):
    return [(m, {k: v for k, v in e.items() if k not in ("timestamp", "session_id")}) for m, e in events]


def test_without_now_only_times_and_session_ids_change(pipeline):
    first = rows(pipeline, "gen_interactions", 200, 1, now=None)
    second = rows(pipeline, "gen_interactions", 200, 1, now=None)
    assert without_time(first) == without_time(second)
    assert {e["session_id"] for _, e in first}.isdisjoint(e["session_id"] for _, e in second)


def test_same_seed_args_and_now_give_the_same_rows(pipeline):
    assert rows(pipeline, "gen_interactions", 200, 1) == rows(pipeline, "gen_interactions", 200, 1)


def test_without_now_uses_the_current_utc_time(pipeline):
    before = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    events = [e for _, e in rows(pipeline, "gen_interactions", 300, 2, now=None)]
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    times = [datetime.fromisoformat(e["timestamp"]) for e in events]
    assert before - timedelta(days=2) <= min(times) and max(times) <= after


def test_session_ids_never_collide_across_calls_at_different_times(pipeline):
    seen: set[str] = set()
    for batch in range(5):  # what `pipe stream` does: the same call once per batch
        now = NOW + timedelta(seconds=10 * batch, microseconds=batch)
        ids = {e["session_id"] for _, e in rows(pipeline, "gen_interactions", 100, 1, now=now)}
        assert seen.isdisjoint(ids)
        seen |= ids
    one_microsecond_later = rows(pipeline, "gen_interactions", 100, 1, now=NOW + timedelta(microseconds=1))
    assert {e["session_id"] for _, e in rows(pipeline, "gen_interactions", 100, 1)}.isdisjoint(
        e["session_id"] for _, e in one_microsecond_later
    )


# --- members and resources ----------------------------------------------------------------------


def test_members(pipeline):
    members = rows(pipeline, "gen_members", 1000)
    assert [m[0] for m in members] == list(range(10001, 11001))
    emails = [m[1] for m in members]
    assert len(set(emails)) == 1000
    assert all(re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+", e) for e in emails)
    assert all(re.fullmatch(r"[A-Z][\w'-]+ [A-Z][\w'-]+", m[2]) for m in members)
    assert {m[3] for m in members} == MEMBER_TYPES
    assert {m[5] for m in members} == REGIONS
    assert all(NOW.date() - timedelta(days=730) < m[4] <= NOW.date() for m in members)
    assert all(type(m[4]) is date for m in members)
    counts = Counter(m[3] for m in members)
    assert counts["free"] > counts["registered"] > counts["premium"] > 50


def test_resources(pipeline):
    resources = rows(pipeline, "gen_resources", 100)
    assert [r[0] for r in resources] == list(range(100, 200))
    assert len({r[1] for r in resources}) == 100
    assert {r[2] for r in resources} == CONTENT_TYPES
    assert {r[3] for r in resources} == TOPICS
    assert {r[4] for r in resources} == DIFFICULTIES
    assert all(NOW.date() - timedelta(days=730) < r[5] <= NOW.date() for r in resources)
    limits = {"article": (3, 15), "video": (2, 25), "guide": (10, 45), "tool": (5, 20), "webinar": (30, 90)}
    for _, title, content_type, _, _, _, minutes in resources:
        low, high = limits[content_type]
        assert low <= minutes <= high and isinstance(minutes, int), (title, content_type, minutes)
        assert (title[0].isupper() or title[0].isdigit()) and len(title) > 8
    assert {r[6] for r in resources if r[2] == "webinar"} <= {30, 45, 60, 90}


# --- interactions -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 9, 100, 10_000])
def test_interactions_row_count_is_exact(pipeline, n):
    assert len(rows(pipeline, "gen_interactions", n, 30)) == n
    assert len(fast_rows(pipeline, n, 30)) == n


def test_interaction_values(pipeline):
    events = rows(pipeline, "gen_interactions", 10_000, 30)
    assert all(list(e) == EVENT_KEYS for _, e in events)
    assert {e["event_type"] for _, e in events} == EVENT_TYPES
    assert {e["device_type"] for _, e in events} == DEVICES
    assert all(re.fullmatch(r"[0-9a-f]{16}", e["session_id"]) for _, e in events)
    assert all(ISO_SECONDS.match(e["timestamp"]) for _, e in events)
    times = [datetime.fromisoformat(e["timestamp"]) for _, e in events]
    now = NOW.replace(microsecond=0)
    assert now - timedelta(days=30) <= min(times) and max(times) <= now
    assert min(times) < now - timedelta(days=29) and max(times) > now - timedelta(days=1)  # spread over the window
    limits = {"page_view": (10, 300), "video_start": (5, 90), "video_complete": (60, 900), "download": (5, 60),
              "share": (3, 30), "bookmark": (2, 15)}
    for _, e in events:
        low, high = limits[e["event_type"]]
        assert low <= e["engagement_seconds"] <= high and type(e["engagement_seconds"]) is int


def test_interactions_reference_existing_members_and_resources(pipeline):
    con = duckdb.connect()
    for table in ("MEMBERS", "RESOURCES", "RAW_INTERACTIONS"):
        spec = pipeline.tables[table]
        create_table(con, table, pipeline, spec.generator)
        insert_generated(con, table, pipeline, spec.generator, spec.args, seed=pipeline.seed, order_by=spec.order_by,
                         now=NOW)
    assert con.execute("SELECT count(*) FROM MEMBERS").fetchone() == (1000,)
    assert con.execute("SELECT count(*) FROM RESOURCES").fetchone() == (100,)
    orphans = con.execute("""
        SELECT count(*) FILTER (WHERE m.MEMBER_ID IS NULL), count(*) FILTER (WHERE r.RESOURCE_ID IS NULL), count(*)
        FROM RAW_INTERACTIONS i
        LEFT JOIN MEMBERS m ON m.MEMBER_ID = i.MEMBER_ID
        LEFT JOIN RESOURCES r ON r.RESOURCE_ID = CAST(i.EVENT_DATA->>'resource_id' AS BIGINT)
    """).fetchone()
    assert orphans == (0, 0, 10_000)
    used = con.execute("""SELECT count(DISTINCT MEMBER_ID), count(DISTINCT EVENT_DATA->>'resource_id')
                          FROM RAW_INTERACTIONS""").fetchone()
    assert used[0] > 700 and used[1] > 95  # popularity is skewed: not every member or resource is seen


def sessions_of(events):
    by_session = defaultdict(list)
    order = []
    for position, (member_id, e) in enumerate(events):
        if e["session_id"] not in by_session:
            order.append(e["session_id"])
        by_session[e["session_id"]].append((position, member_id, e))
    return [by_session[s] for s in order]


def test_sessions_are_a_few_events_of_one_member_within_minutes(pipeline):
    events = rows(pipeline, "gen_interactions", 10_000, 30)
    sessions = sessions_of(events)
    spans = []
    for i, session in enumerate(sessions):
        positions = [p for p, _, _ in session]
        assert positions == list(range(positions[0], positions[0] + len(session)))  # contiguous rows
        assert len({m for _, m, _ in session}) == 1
        assert len({e["device_type"] for _, _, e in session}) == 1
        assert 2 <= len(session) <= 8 or (i == len(sessions) - 1 and len(session) >= 1)
        times = [datetime.fromisoformat(e["timestamp"]) for _, _, e in session]
        assert times == sorted(times)
        for (_, _, e), after in zip(session, times[1:]):  # the next event starts after this one's engagement
            gap = (after - datetime.fromisoformat(e["timestamp"])).total_seconds()
            assert e["engagement_seconds"] + 2 <= gap <= e["engagement_seconds"] + 60
        spans.append((times[-1] - times[0]).total_seconds())
    assert max(spans) < 2 * 3600
    assert 3 * 60 < float(np.median(spans)) < 20 * 60
    assert 2000 < len(sessions) < 3000


# --- the fast path ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,n,ndays,now", [
    (42, 10_000, 30, NOW),
    (-5, 1, 1, NOW),
    (0, 0, 1, NOW),
    (123456789012345, 3001, 400, datetime(2024, 2, 29, 23, 59, 59)),
    (7, 5000, 1, datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))),
])
def test_fast_path_yields_exactly_the_udtf_rows(pipeline, seed, n, ndays, now):
    assert fast_rows(pipeline, n, ndays, seed=seed, now=now) == rows(pipeline, "gen_interactions", n, ndays,
                                                                      seed=seed, now=now)


@pytest.mark.parametrize("chunk_sessions", [1, 7, 100])
def test_fast_path_in_chunks_yields_exactly_the_udtf_rows(pipeline, monkeypatch, chunk_sessions):
    """Chunks of whole sessions join up to the same rows, whatever the chunk size."""
    module = load_module(pipeline, "gen_interactions")
    monkeypatch.setattr(module, "CHUNK_SESSIONS", chunk_sessions)
    assert len(list(module.Interactions().process_columns(3001, 30))) > 1
    assert fast_rows(pipeline, 3001, 30, seed=9) == rows(pipeline, "gen_interactions", 3001, 30, seed=9)


def test_fast_path_and_udtf_path_load_identical_tables(pipeline):
    con = duckdb.connect()
    for table, fast in (("FAST", True), ("SLOW", False)):
        create_table(con, table, pipeline, "gen_interactions")
        count = insert_generated(con, table, pipeline, "gen_interactions", [20_000, 30], seed=3, now=NOW, fast=fast)
        assert count == 20_000
    fetch = "SELECT MEMBER_ID, CAST(EVENT_DATA AS VARCHAR) FROM {} ORDER BY rowid"
    assert con.execute(fetch.format("FAST")).fetchall() == con.execute(fetch.format("SLOW")).fetchall()


def sample(events):
    """What the distribution checks compare, from interaction rows."""
    sessions = sessions_of(events)[:-1]  # the last session may be cut short
    now = NOW.replace(microsecond=0)
    return {
        "event_type": Counter(e["event_type"] for _, e in events),
        "device_type": Counter(s[0][2]["device_type"] for s in sessions),
        "session_size": Counter(len(s) for s in sessions),
        "member_decile": Counter((m - 10001) // 100 for _, m, _ in (s[0] for s in sessions)),
        "resource_decile": Counter((e["resource_id"] - 100) // 10 for _, e in events),
        "hour": Counter(datetime.fromisoformat(s[0][2]["timestamp"]).hour // 3 for s in sessions),
        "engagement": np.array([e["engagement_seconds"] for _, e in events]),
        # per session: the events of one session share its start, they are not independent draws
        "age_hours": np.array([(now - datetime.fromisoformat(s[0][2]["timestamp"])).total_seconds() / 3600
                               for s in sessions]),
        "session_span": np.array([(datetime.fromisoformat(s[-1][2]["timestamp"])
                                   - datetime.fromisoformat(s[0][2]["timestamp"])).total_seconds()
                                  for s in sessions]),
    }


def chi_square(a: Counter, b: Counter) -> tuple[float, int]:
    """Chi-square statistic of homogeneity of two samples of categories, and its degrees of freedom."""
    categories = sorted(set(a) | set(b))
    total_a, total_b = sum(a.values()), sum(b.values())
    statistic = 0.0
    for category in categories:
        pooled = (a[category] + b[category]) / (total_a + total_b)
        for observed, total in ((a[category], total_a), (b[category], total_b)):
            statistic += (observed - pooled * total) ** 2 / (pooled * total)
    return statistic, len(categories) - 1


def ks_statistic(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov distance and its critical value at p = 0.001."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    distance = np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                             - np.searchsorted(b, grid, side="right") / len(b)))
    return float(distance), 1.95 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))


def assert_same_distribution(x, y):
    for key in ("event_type", "device_type", "session_size", "member_decile", "resource_decile", "hour"):
        statistic, df = chi_square(x[key], y[key])
        assert statistic < CHI2_CRITICAL[df], f"{key}: chi-square {statistic:.1f} with {df} df"
    for key in ("engagement", "age_hours", "session_span"):
        distance, critical = ks_statistic(x[key], y[key])
        assert distance < critical, f"{key}: KS distance {distance:.4f} >= {critical:.4f}"
        standard_error = np.sqrt(x[key].var() / len(x[key]) + y[key].var() / len(y[key]))
        assert abs(x[key].mean() - y[key].mean()) < 4 * standard_error, key
        for q in (0.1, 0.5, 0.9):
            assert np.quantile(x[key], q) == pytest.approx(np.quantile(y[key], q), rel=0.08), (key, q)


def test_fast_path_has_the_udtf_distribution_on_independent_samples(pipeline):
    """Different seeds give independent samples: the fast path at seed 2 must be
    indistinguishable from the UDTF path at seed 1, on every variable the pipeline uses."""
    udtf = sample(rows(pipeline, "gen_interactions", 40_000, 30, seed=1))
    fast = sample(fast_rows(pipeline, 160_000, 30, seed=2))
    assert_same_distribution(udtf, fast)


def test_the_distribution_checks_detect_a_small_difference(pipeline, monkeypatch):
    """The checks above have power: weights moved by a few points are caught."""
    udtf = sample(rows(pipeline, "gen_interactions", 40_000, 30, seed=1))
    module = load_module(pipeline, "gen_interactions")
    skewed = [42, 18, 14, 12, 7, 10]  # video_complete 11 -> 14
    monkeypatch.setattr(module, "_EVENT_CUM", list(np.cumsum(skewed).tolist()))
    fast = sample(fast_rows(pipeline, 160_000, 30, seed=2))
    with pytest.raises(AssertionError, match="event_type"):
        assert_same_distribution(udtf, fast)


def test_frequencies_match_the_declared_weights(pipeline):
    module = load_module(pipeline, "gen_interactions")
    observed = sample(fast_rows(pipeline, 200_000, 30, seed=11))
    for key, weights in (("event_type", module.EVENT_TYPES), ("device_type", module.DEVICES),
                         ("session_size", module.SESSION_SIZES)):
        counts = observed[key]
        total, scale = sum(counts.values()), sum(weights.values())
        statistic = sum((counts[v] - total * w / scale) ** 2 / (total * w / scale) for v, w in weights.items())
        assert statistic < CHI2_CRITICAL[len(weights) - 1], key
