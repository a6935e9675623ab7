"""Data generators of the User Engagement Analytics pipeline.

This file is the body of three Snowflake Python UDTFs (gen_members, gen_resources,
gen_interactions) and is imported as-is by the local engine, so it imports only the standard
library and faker at top level. Each handler class follows the UDTF handler protocol:
instantiated with no arguments, ``process(self, *args)`` yields one tuple per row in the order
of the pipeline's ``returns:`` columns (a VARIANT column is a dict).

Seeding and time:

* ``SEED`` is set by the engine (``SEED = <seed>`` is appended to the UDTF body; locally the
  module attribute is assigned). Handlers read it when ``process`` starts. ``None`` means
  unseeded: different data on every call.
* ``NOW`` is the reference time; ``None`` means the current UTC time, truncated to the second.
  Dates and timestamps are drawn before it, so the same SEED, args and NOW give identical rows.

Referential consistency: ``gen_interactions(num_records, ndays)`` cannot see the MEMBERS and
RESOURCES tables, so it draws member ids from ``MEMBER_ID_START`` .. ``+ NUM_MEMBERS - 1``
(10001..11000) and resource ids from ``RESOURCE_ID_START`` .. ``+ NUM_RESOURCES - 1``
(100..199). These ranges are exactly the ids of ``gen_members(1000)`` and
``gen_resources(100)``, the pipeline's table sizes: change both together.

Interactions are drawn with a counter-based generator (SplitMix64 of seed, field and row
index) rather than ``random.Random``, so that ``Interactions.process_columns`` (a NumPy
version the local engine uses for speed, never called on Snowflake) produces exactly the same
rows as ``process``.
"""

import random
import zlib
from bisect import bisect_right
from datetime import datetime, timedelta, timezone
from itertools import accumulate

from faker import Faker

SEED = None
NOW = None

MEMBER_ID_START = 10001
NUM_MEMBERS = 1000
RESOURCE_ID_START = 100
NUM_RESOURCES = 100
HISTORY_DAYS = 730  # signup and publish dates fall within the past two years

MEMBER_TYPES = {"free": 50, "registered": 35, "premium": 15}
REGIONS = {"Northeast": 17, "Mid-Atlantic": 12, "Southeast": 22, "Midwest": 18, "Southwest": 12, "West": 19}

CONTENT_TYPES = {"article": 35, "video": 25, "guide": 15, "webinar": 13, "tool": 12}
TOPICS = {"focus": 20, "reading": 20, "learning": 22, "parenting": 20, "school": 18}
DIFFICULTIES = {"beginner": 45, "intermediate": 35, "advanced": 20}
MINUTES = {"article": (3, 15), "video": (2, 25), "guide": (10, 45), "tool": (5, 20)}
WEBINAR_MINUTES = (30, 45, 60, 90)

EVENT_TYPES = {"page_view": 42, "video_start": 18, "video_complete": 11, "download": 12, "share": 7, "bookmark": 10}
ENGAGEMENT_SECONDS = {  # inclusive range per event type
    "page_view": (10, 300),
    "video_start": (5, 90),
    "video_complete": (60, 900),
    "download": (5, 60),
    "share": (3, 30),
    "bookmark": (2, 15),
}
DEVICES = {"desktop": 45, "mobile": 42, "tablet": 13}
SESSION_SIZES = {2: 22, 3: 21, 4: 18, 5: 14, 6: 11, 7: 8, 8: 6}
PAUSE_SECONDS = (2, 60)  # between the end of one event and the start of the next
# Sessions start by UTC hour: a US audience, busiest at lunch and in the evening.
HOUR_WEIGHTS = (7, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 6, 6, 6, 5, 5, 6, 7)
MAX_SESSION_SECONDS = 7200  # > 7 * (900 + 60): a session started this long before NOW ends before it

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_EPOCH = datetime(1970, 1, 1)
_DAY = 86400


# --- shared helpers ----------------------------------------------------------------------------


def _reference_time():
    """NOW as a naive UTC datetime (not truncated) and its epoch microseconds."""
    now = NOW if NOW is not None else datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    return now, (now - _EPOCH) // timedelta(microseconds=1)


def _seed():
    return SEED if SEED is not None else random.SystemRandom().getrandbits(63)


def _weighted(weights, rng):
    """A random.Random choice from a {value: weight} table."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _past_date(today, rng):
    return today - timedelta(days=rng.randint(0, HISTORY_DAYS - 1))


def _faker(seed):
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


# --- members -----------------------------------------------------------------------------------


class Members:
    """gen_members(num_records): member_id, email, name, member_type, signup_date, region."""

    def process(self, num_records):
        seed = _seed()
        fake, rng = _faker(seed), random.Random(f"{seed}:members")
        today = _reference_time()[0].date()
        emails = set()
        for i in range(int(num_records)):
            first, last = fake.first_name(), fake.last_name()
            email = _unique_email(first, last, fake.free_email_domain(), rng, emails)
            yield (
                MEMBER_ID_START + i,
                email,
                f"{first} {last}",
                _weighted(MEMBER_TYPES, rng),
                _past_date(today, rng),
                _weighted(REGIONS, rng),
            )


def _unique_email(first, last, domain, rng, taken):
    local = "".join(c for c in f"{first}.{last}".lower() if c.isalnum() or c == ".")
    if rng.random() < 0.4:
        local += str(rng.randint(1, 99))
    while f"{local}@{domain}" in taken:
        local += str(rng.randint(0, 9))
    taken.add(f"{local}@{domain}")
    return f"{local}@{domain}"


# --- resources ---------------------------------------------------------------------------------

SUBJECTS = {
    "focus": ["ADHD", "attention in class", "executive function", "staying on task", "screen time"],
    "reading": ["dyslexia", "reading fluency", "phonics", "reading comprehension", "audiobooks"],
    "learning": ["dyscalculia", "working memory", "learning differences", "study skills", "note-taking"],
    "parenting": ["homework battles", "building confidence", "bedtime routines", "sibling rivalry", "praise"],
    "school": ["IEPs", "504 plans", "parent-teacher meetings", "classroom accommodations", "changing schools"],
}
TITLE_PATTERNS = {
    "article": ["{n} Things to Know About {Subject}", "What Is {Subject}?", "{Subject}: Myths and Facts"],
    "video": ["{Subject} Explained in {n} Minutes", "A Day in the Life: {Subject}", "Expert Tips on {Subject}"],
    "guide": ["The Parent's Guide to {Subject}", "A Step-by-Step Guide to {Subject}", "{Subject}: A Family Guide"],
    "webinar": ["Webinar: {Subject} with Dr. {expert}", "Live Q&A: {Subject}", "Ask an Expert: {Subject}"],
    "tool": ["{Subject} Checklist", "Printable {Subject} Planner", "Interactive {Subject} Tracker"],
}


class Resources:
    """gen_resources(num_records): resource_id, title, content_type, topic, difficulty_level,
    publish_date, estimated_minutes."""

    def process(self, num_records):
        seed = _seed()
        fake, rng = _faker(seed), random.Random(f"{seed}:resources")
        today = _reference_time()[0].date()
        titles = set()
        for i in range(int(num_records)):
            content_type, topic = _weighted(CONTENT_TYPES, rng), _weighted(TOPICS, rng)
            yield (
                RESOURCE_ID_START + i,
                _title(content_type, topic, fake, rng, titles),
                content_type,
                topic,
                _weighted(DIFFICULTIES, rng),
                _past_date(today, rng),
                _minutes(content_type, rng),
            )


def _title(content_type, topic, fake, rng, taken):
    for _ in range(20):  # titles repeat rarely; try to keep them unique
        subject = rng.choice(SUBJECTS[topic])
        title = rng.choice(TITLE_PATTERNS[content_type]).format(
            n=rng.randint(3, 12), Subject=_headline(subject), expert=fake.last_name()
        )
        if title not in taken:
            break
    taken.add(title)
    return title


_SMALL_WORDS = {"a", "an", "and", "in", "of", "on", "or", "the", "to", "with"}


def _headline(text):
    """'staying on task' -> 'Staying on Task'; 'IEPs' stays 'IEPs'."""
    words = list(_split_words(text))
    return "".join(w if i and w in _SMALL_WORDS else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _split_words(text):
    word = ""
    for char in text:
        if char in " -":
            yield word
            yield char
            word = ""
        else:
            word += char
    yield word


def _minutes(content_type, rng):
    if content_type == "webinar":
        return rng.choice(WEBINAR_MINUTES)
    low, high = MINUTES[content_type]
    return rng.randint(low, high)


# --- interactions ------------------------------------------------------------------------------


def _mix(z):
    """SplitMix64's finaliser: a bijection of 64-bit integers that scrambles every bit."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _field_key(seed, field):
    return _mix((_mix((seed * _GAMMA) & _MASK) ^ zlib.crc32(field.encode())) & _MASK)


class _Plan:
    """Everything one gen_interactions call draws from: its size, time window and random keys.

    ``draw(field, i)`` is the i-th 64-bit random number of ``field``; fields drawn per session
    are indexed by session number, fields drawn per event by row number.
    """

    FIELDS = ("size", "member_a", "member_b", "device", "day", "hour", "second", "session",
              "resource_a", "resource_b", "event", "engagement", "pause")

    def __init__(self, num_records, ndays):
        self.rows = int(num_records)
        self.days = int(ndays)
        if self.rows < 0:
            raise ValueError(f"num_records must be zero or more, got {num_records}")
        if self.days < 1:
            raise ValueError(f"ndays must be at least 1, got {ndays}")
        seed = _seed()
        now, now_us = _reference_time()
        self.now = now_us // 1_000_000
        self.keys = {field: _field_key(seed, field) for field in self.FIELDS}
        # Session ids are a bijection of (base + session number), unique within a call; the base
        # mixes in NOW to the microsecond, so calls made at different times get unrelated ids.
        self.session_base = _mix((self.keys["session"] ^ now_us) & _MASK)
        self.window_start = self.now - self.days * _DAY
        self.start_range = self.days * _DAY - MAX_SESSION_SECONDS

    def draw(self, field, i):
        return _mix((self.keys[field] + (i + 1) * _GAMMA) & _MASK)


def _cumulative(weights):
    return list(accumulate(weights.values()))


_SIZE_VALUES, _SIZE_CUM = list(SESSION_SIZES), _cumulative(SESSION_SIZES)
_DEVICE_VALUES, _DEVICE_CUM = list(DEVICES), _cumulative(DEVICES)
_EVENT_VALUES, _EVENT_CUM = list(EVENT_TYPES), _cumulative(EVENT_TYPES)
_HOUR_CUM = list(accumulate(HOUR_WEIGHTS))


def _pick(u, cumulative):
    """Index of the weighted choice for the 64-bit random number ``u``."""
    return bisect_right(cumulative, u % cumulative[-1])


class Interactions:
    """gen_interactions(num_records, ndays): member_id, event_data.

    Rows come in sessions: 2-8 events of one member on one device, each event starting after
    the previous one's engagement plus a short pause, the session starting within the last
    ``ndays`` days before NOW. The last session is cut so that exactly num_records rows come out.
    """

    def process(self, num_records, ndays):
        plan = _Plan(num_records, ndays)
        row = session = 0
        while row < plan.rows:
            size = min(_SIZE_VALUES[_pick(plan.draw("size", session), _SIZE_CUM)], plan.rows - row)
            member_id = MEMBER_ID_START + _min_of_two(plan, "member", session, NUM_MEMBERS)
            device = _DEVICE_VALUES[_pick(plan.draw("device", session), _DEVICE_CUM)]
            session_id = f"{_mix((plan.session_base + session) & _MASK):016x}"
            at = _session_start(plan, session)
            for i in range(row, row + size):
                event_type = _EVENT_VALUES[_pick(plan.draw("event", i), _EVENT_CUM)]
                low, high = ENGAGEMENT_SECONDS[event_type]
                seconds = low + plan.draw("engagement", i) % (high - low + 1)
                yield member_id, {
                    "resource_id": RESOURCE_ID_START + _min_of_two(plan, "resource", i, NUM_RESOURCES),
                    "event_type": event_type,
                    "session_id": session_id,
                    "timestamp": (_EPOCH + timedelta(seconds=at)).isoformat(),
                    "engagement_seconds": seconds,
                    "device_type": device,
                }
                at += seconds + PAUSE_SECONDS[0] + plan.draw("pause", i) % (PAUSE_SECONDS[1] - PAUSE_SECONDS[0] + 1)
            row += size
            session += 1

    def process_columns(self, num_records, ndays):
        """The rows of ``process`` as NumPy columns, for the local engine (never on Snowflake).

        Yields:
            ``{"member_id": int64 array, "event_data": {field: array}}`` for consecutive runs of
            whole sessions (about a million rows each, so memory stays flat whatever the size):
            the fields of the event object in order, ``timestamp`` as datetime64[s] (written as
            ISO text).
        """
        import numpy as np

        plan = _Plan(num_records, ndays)
        draw = _numpy_draw(np, plan)
        sizes = _session_sizes(np, draw, plan.rows)
        ends = np.cumsum(sizes)
        for first in range(0, len(sizes), CHUNK_SESSIONS):
            last = min(first + CHUNK_SESSIONS, len(sizes))
            start = int(ends[first - 1]) if first else 0
            yield _interaction_columns(np, draw, plan, sizes[first:last], np.arange(first, last, dtype=np.uint64),
                                       np.arange(start, int(ends[last - 1]), dtype=np.uint64))


CHUNK_SESSIONS = 250_000  # about a million rows per process_columns chunk


def _interaction_columns(np, draw, plan, sizes, sessions, rows):
    """The columns of the given whole sessions, numbered ``sessions``, covering ``rows``."""
    session_of_row = np.repeat(np.arange(len(sizes)), sizes)
    events = _numpy_pick(np, draw("event", rows), _EVENT_CUM)
    low = np.array([r[0] for r in ENGAGEMENT_SECONDS.values()], dtype=np.uint64)[events]
    span = np.array([r[1] - r[0] + 1 for r in ENGAGEMENT_SECONDS.values()], dtype=np.uint64)[events]
    seconds = (low + draw("engagement", rows) % span).astype(np.int64)
    pause_span = np.uint64(PAUSE_SECONDS[1] - PAUSE_SECONDS[0] + 1)
    steps = seconds + PAUSE_SECONDS[0] + (draw("pause", rows) % pause_span).astype(np.int64)
    starts = _numpy_session_starts(np, draw, plan, sessions)
    session_ids = _mix_numpy(np, np.uint64(plan.session_base) + sessions)

    members = MEMBER_ID_START + _numpy_min_of_two(np, draw, "member", sessions, NUM_MEMBERS)
    devices = _numpy_pick(np, draw("device", sessions), _DEVICE_CUM)
    return {
        "member_id": members[session_of_row],
        "event_data": {
            "resource_id": RESOURCE_ID_START + _numpy_min_of_two(np, draw, "resource", rows, NUM_RESOURCES),
            "event_type": np.array(_EVENT_VALUES, dtype=object)[events],
            "session_id": np.array([f"{s:016x}" for s in session_ids.tolist()], dtype=object)[session_of_row],
            "timestamp": _numpy_timestamps(np, starts, steps, sizes),
            "engagement_seconds": seconds,
            "device_type": np.array(_DEVICE_VALUES, dtype=object)[devices][session_of_row],
        },
    }


def _min_of_two(plan, field, i, count):
    """An id offset in [0, count) skewed towards 0: a few members and resources are the most active."""
    return min(plan.draw(f"{field}_a", i) % count, plan.draw(f"{field}_b", i) % count)


def _session_start(plan, session):
    """Epoch seconds of a session start: a day, a busy-weighted hour, a second, within the window.

    The day/hour/second is folded into [window start, NOW - MAX_SESSION_SECONDS) so that the
    whole session lies within the last ndays days.
    """
    day = plan.draw("day", session) % (plan.days + 1)
    hour = _pick(plan.draw("hour", session), _HOUR_CUM)
    second = plan.draw("second", session) % 3600
    midnight = plan.window_start - plan.window_start % _DAY
    raw = midnight + day * _DAY + hour * 3600 + second
    return plan.window_start + (raw - plan.window_start) % plan.start_range


# --- NumPy versions of the interaction draws (local engine only) ------------------------------


def _mix_numpy(np, z):
    z = z.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _numpy_draw(np, plan):
    def draw(field, index):
        return _mix_numpy(np, np.uint64(plan.keys[field]) + (index + np.uint64(1)) * np.uint64(_GAMMA))

    return draw


def _numpy_pick(np, u, cumulative):
    """``_pick`` for an array of random numbers."""
    bounds = np.array(cumulative, dtype=np.uint64)
    return np.searchsorted(bounds, u % bounds[-1], side="right")


def _session_sizes(np, draw, rows):
    """Sizes of the sessions covering ``rows`` rows, the last one cut to fit.

    Drawn a block of sessions at a time until they cover ``rows``, so that memory follows the
    number of sessions, not ``rows``.
    """
    values = np.array(_SIZE_VALUES, dtype=np.int64)
    blocks, covered, first = [], 0, 0
    while covered < rows:
        count = max(1, min(CHUNK_SESSIONS, (rows - covered + 1) // 2))  # every session has at least 2 events
        block = values[_numpy_pick(np, draw("size", np.arange(first, first + count, dtype=np.uint64)), _SIZE_CUM)]
        blocks.append(block)
        covered += int(block.sum())
        first += count
    sizes = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64)
    if covered > rows:
        ends = np.cumsum(sizes)
        count = int(np.searchsorted(ends, rows, side="left")) + 1
        sizes = sizes[:count]
        sizes[-1] -= ends[count - 1] - rows
    return sizes


def _numpy_min_of_two(np, draw, field, index, count):
    n = np.uint64(count)
    return np.minimum(draw(f"{field}_a", index) % n, draw(f"{field}_b", index) % n).astype(np.int64)


def _numpy_session_starts(np, draw, plan, sessions):
    day = (draw("day", sessions) % np.uint64(plan.days + 1)).astype(np.int64)
    hour = _numpy_pick(np, draw("hour", sessions), _HOUR_CUM)
    second = (draw("second", sessions) % np.uint64(3600)).astype(np.int64)
    midnight = plan.window_start - plan.window_start % _DAY
    raw = midnight + day * _DAY + hour * 3600 + second
    return plan.window_start + (raw - plan.window_start) % plan.start_range


def _numpy_timestamps(np, starts, steps, sizes):
    """Each event's time: its session start plus the steps of the events before it in the session."""
    before = np.cumsum(steps) - steps
    first = np.cumsum(sizes) - sizes
    offsets = before - np.repeat(before[first], sizes)
    return (np.repeat(starts, sizes) + offsets).astype("datetime64[s]")
