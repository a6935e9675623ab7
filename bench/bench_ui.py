"""How fast the live page comes up and follows a batch, in Debian's Chromium driven by Playwright.

    python bench/bench_ui.py [--runs 5]

For pipelines/engagement.yaml and the 40-table fixture tests/fixtures/ui/wide.yaml, each run
starts ``pipe ui`` on a fresh copy of an applied database and measures, in wall time:

* **serving**: from starting the ``pipe ui`` process to its "serving" line (Python start, validate,
  open the database, first snapshot);
* **page**: from starting the ``pipe ui`` process to the page drawn with every node's state
  (the process start, the first snapshot, the page's HTML, scripts and first /api/state);
* **batch**: from clicking "Stream a batch" to the page showing the stream's base table with
  its new row count (the first update after the batch);
* **cascade**: from the same click to the page showing a new refresh of a dynamic table in
  its history.

Medians of ``--runs`` runs are printed. Needs playwright and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = {
    "engagement": ROOT / "pipelines" / "engagement.yaml",
    "wide (40 tables)": ROOT / "tests" / "fixtures" / "ui" / "wide.yaml",
}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def applied(pipeline: Path, folder: Path) -> Path:
    """A database the pipeline was applied to, in ``folder``."""
    sys.path.insert(0, str(ROOT))
    import engine

    project = engine.validate(pipeline)
    db = folder / f"{project.pipeline.name}.duckdb"
    with project.backend("local", db=db) as backend:
        engine.apply(project, backend)
    return db


def start_ui(pipeline: Path, db: Path) -> tuple[subprocess.Popen, str]:
    """Start ``pipe ui`` and return it with its URL once it says it serves."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "ui", str(pipeline), "--db", str(db), "--port", "0", "--no-browser"],
        cwd=db.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            if "serving http://" in line:
                found.append(line.split("serving ", 1)[1].split()[0])
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError("pipe ui did not start")
    return proc, found[0]


def one_run(browser, pipeline: Path, template: Path, folder: Path) -> tuple[float, float, float, float]:
    db = folder / template.name
    shutil.copy(template, db)
    started = time.perf_counter()
    proc, url = start_ui(pipeline, db)
    serving = time.perf_counter() - started
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(url)
        page.wait_for_function(
            "() => document.querySelector('#live.on') && [...document.querySelectorAll('svg#dag [data-node] .state')]"
            ".every(s => s.textContent)", timeout=60_000)
        page_ready = time.perf_counter() - started
        table = page.evaluate("() => document.querySelector('#stream-status').textContent.replace('streams go into ', '')")
        before = page.locator(f'svg#dag [data-node="{table}"] .line.first').text_content()
        keys = page.eval_on_selector_all("#history tbody tr[data-key]", "rows => rows.map(r => r.dataset.key)")
        clicked = time.perf_counter()
        page.click("#stream-button")
        page.wait_for_function(
            "([table, before]) => document.querySelector(`svg#dag [data-node=\"${table}\"] .line.first`).textContent !== before",
            arg=[table, before], timeout=60_000, polling=20)
        batch = time.perf_counter() - clicked
        page.wait_for_function(
            "keys => [...document.querySelectorAll('#history tbody tr[data-key]')].some(r => !keys.includes(r.dataset.key))",
            arg=keys, timeout=60_000, polling=20)
        cascade = time.perf_counter() - clicked
    finally:
        page.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    return serving, page_ready, batch, cascade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless", "--disable-gpu"])
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"medians of {args.runs} runs; load average {load:.1f} on {os.cpu_count()} CPUs at the start")
        print(f"{'pipeline':<18} {'serving (s)':>11} {'page (s)':>9} {'batch (s)':>10} {'cascade (s)':>12}")
        for label, pipeline in PIPELINES.items():
            folder = Path(tmp) / label.split()[0]
            (folder / "template").mkdir(parents=True)
            template = applied(pipeline, folder / "template")
            runs = [one_run(browser, pipeline, template, folder) for _ in range(args.runs)]
            serving, page, batch, cascade = (statistics.median(r[i] for r in runs) for i in range(4))
            print(f"{label:<18} {serving:>11.2f} {page:>9.2f} {batch:>10.2f} {cascade:>12.2f}")
        browser.close()


if __name__ == "__main__":
    main()
