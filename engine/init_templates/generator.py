"""Data generators of the {{name}} pipeline.

This file is the body of the pipeline's Python UDTFs on Snowflake, and the local engine imports
it as it is: import only what the generators' ``packages:`` list (and the standard library).

A handler is a class with ``process(self, *args)``: it is created with no arguments and yields one
tuple per row, in the order of its generator's ``returns:`` columns (a VARIANT column is a dict).

Seeding rules, so that the same file gives the same data:

* ``SEED`` is set by pipe: to the pipeline's ``seed:`` when a table is filled, and to that seed
  plus the table's current row count for each ``pipe stream`` batch, so batches differ from each
  other, on both targets (on Snowflake the UDTF takes the seed as a last argument, PIPE_SEED, and
  sets ``SEED`` before your handler starts). Read it when ``process`` starts; ``None`` (no seed)
  means different data on every call.
* ``NOW`` is the reference time: ``None`` means the current UTC time. Draw dates and timestamps
  relative to it; pipe may set it to make a test reproducible.
"""

import random
from datetime import datetime, timedelta, timezone

from faker import Faker

SEED = None
NOW = None

REGIONS = ["North", "South", "East", "West"]
STATUSES = {"paid": 80, "pending": 15, "cancelled": 5}


def _rng(name):
    """A random generator for one handler, from SEED (or unseeded when SEED is None)."""
    return random.Random(f"{SEED}:{name}") if SEED is not None else random.Random()


def _now():
    """NOW, or the current UTC time, as a naive UTC datetime truncated to the second."""
    now = NOW or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0) if now.tzinfo else now


class Customers:
    """gen_customers(num_records): customer_id, name, region."""

    def process(self, num_records):
        rng = _rng("customers")
        fake = Faker()
        fake.seed_instance(rng.getrandbits(32))
        for customer_id in range(1, int(num_records) + 1):
            yield (customer_id, fake.name(), rng.choice(REGIONS))


class Orders:
    """gen_orders(num_records, customers): order_id, customer_id, amount, status, ordered_at."""

    def process(self, num_records, customers):
        rng = _rng("orders")
        now = _now()
        for _ in range(int(num_records)):
            yield (
                rng.getrandbits(48),  # random ids: batches cannot see which ids exist
                rng.randint(1, int(customers)),
                round(rng.uniform(5, 250), 2),
                rng.choices(list(STATUSES), weights=list(STATUSES.values()))[0],
                now - timedelta(seconds=rng.randint(0, 7 * 86400)),
            )
