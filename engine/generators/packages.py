"""The Anaconda packages a generator's UDTF asks Snowflake for, pinned to what runs locally.

The same seed gives the same rows on both targets only if both run the same Faker: Faker's word
lists and draws change between releases. A bare ``faker`` in a generator's ``packages`` is sent
as ``faker==FAKER_VERSION``, a version Snowflake's Anaconda channel serves: the procedure that
Snowflake's own Python worksheet generated on deployment, recorded in the public repository
cristiscu/programming-in-snowflake (``sections/14-snowpark-api/11-python-worksheet-generated-sp.sql``),
reads ``packages=('faker==18.9.0','snowflake-snowpark-python==*')``; ``SELECT * FROM
INFORMATION_SCHEMA.PACKAGES WHERE PACKAGE_NAME = 'faker'`` lists an account's. pyproject.toml
requires the same version locally. A package the file pins itself is sent as
written.
"""

from __future__ import annotations

FAKER_VERSION = "18.9.0"
PINNED = {"faker": FAKER_VERSION}


def pinned_packages(packages: list[str]) -> list[str]:
    """``packages`` with each bare name pipe pins given its version (``faker`` -> ``faker==18.9.0``)."""
    result = []
    for package in packages:
        name = package.strip()
        version = PINNED.get(name.lower())
        result.append(f"{name}=={version}" if version and not any(c in name for c in "=<>") else name)
    return result
