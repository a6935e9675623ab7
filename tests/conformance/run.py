"""Run the conformance suite: ``python tests/conformance/run.py [--fakesnow] [--write-expectations]``.

Every case under tests/conformance/cases/ runs through pipe's local path (see suite.py); each
case that is not equal to the page's output prints one line, then the figure
``conformance: N/M cases equal``. With ``--fakesnow`` each case also runs through fakesnow
(``pip install -e .[bench]``) and its figure is printed beside pipe's. ``--write-expectations``
rewrites expectations.yaml from this run: statuses and reasons already there are kept, a new
refusal is ``refused``, any other new difference ``failing``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import suite  # noqa: E402
import yaml  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fakesnow", action="store_true", help="also run every case through fakesnow")
    parser.add_argument("--write-expectations", action="store_true", help="rewrite expectations.yaml from this run")
    parser.add_argument("-k", dest="pattern", default="", help="only the cases whose id contains this text")
    args = parser.parse_args(argv)

    cases = [c for c in suite.load_cases() if args.pattern in c.id]
    outcomes = {c.id: suite.run_pipe(c) for c in cases}
    fakes = {}
    if args.fakesnow:
        warnings.simplefilter("ignore")
        fakes = {c.id: suite.run_fakesnow(c) for c in cases}
    for case in cases:
        outcome = outcomes[case.id]
        if not outcome.equal:
            print(f"pipe     {case.id}: {outcome.detail}")
        if args.fakesnow and not fakes[case.id].equal:
            print(f"fakesnow {case.id}: {fakes[case.id].detail}")
    equal = sum(o.equal for o in outcomes.values())
    print(f"conformance: {equal}/{len(cases)} cases equal (pipe)")
    if args.fakesnow:
        print(f"conformance: {sum(o.equal for o in fakes.values())}/{len(cases)} cases equal (fakesnow)")
    if args.write_expectations:
        write_expectations(cases, outcomes)
    return 0


def write_expectations(cases: list[suite.Case], outcomes: dict[str, suite.Outcome]) -> None:
    """Rewrite expectations.yaml: one entry per case that is not equal."""
    old = suite.load_expectations()
    entries = {}
    for case in cases:
        outcome = outcomes[case.id]
        if outcome.equal:
            continue
        entry = dict(old.get(case.id) or {})
        refused = outcome.detail.startswith("refused:")
        if not entry or (entry["status"] == "refused") != refused:
            entry = {"status": "refused" if refused else "failing"}
        entry["observed"] = outcome.detail if outcome.status == "error" else outcome.observed
        entries[case.id] = entry
    header = ("# Conformance cases whose local result is not the documented one (written by run.py\n"
              "# --write-expectations; statuses and reasons are edited by hand).\n"
              "#   refused: the local engine rejects the construct with an error naming it;\n"
              "#   known_difference: it runs and gives another value, for the reason given (listed in README.md);\n"
              "#   failing: a defect not fixed yet.\n"
              "# observed: what pipe gave (rows, or the error), pinned so that any change shows.\n")
    text = yaml.safe_dump({"cases": entries}, sort_keys=False, allow_unicode=True, width=120)
    suite.EXPECTATIONS.write_text(header + text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
