"""Benchmark: how long the review page takes to open in a real browser (headless Chromium) for a
run of about --tasks tasks, against the same page with no task in it (the baseline: the browser
and the server alone), in the same run. Also writes the screenshot docs/ shows (--screenshot).

The run is made with the scripted engine (bonito_hub.testing.engines): two task types, three
samples a passage, a fifth of the documents held out, so every kind of task (kept, dropped by each
reason, held out) is on the page.

    python benchmarks/review.py [--tasks 10000] [--screenshot docs/review.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ISLANDS = ["Arran", "Barra", "Coll", "Eigg", "Islay", "Jura", "Lewis", "Mull", "Rum", "Skye"]


def make_run(folder: Path, docs: int) -> Path:
    from bonito_hub.generate import GenerateConfig, generate
    from bonito_hub.testing.engines import ScriptedEngine

    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"ferries/{ISLANDS[i % 10].lower()}-{i}.txt", "text": (
        f"Ferry {i} leaves Ellmere at {i % 60} past nine for the island of {ISLANDS[i % 10]}. The crossing takes "
        f"{i % 50 + 20} minutes and costs {i % 9 + 3} pounds. Passengers with bicycles board first, and dogs travel "
        f"free on the upper deck of boat {i}.")}) + "\n" for i in range(docs)))
    out = folder / "run"
    generate(GenerateConfig(model=None, input=str(corpus), task_type="exqa,ynqa", n=3, output=out, holdout=0.2,
                            progress=False), engine=ScriptedEngine())
    return out


def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))


def open_page(driver, url: str) -> tuple[float, float]:
    """(seconds until the page is ready as the browser counts from the navigation's start, seconds
    the test waited for it)."""
    began = time.perf_counter()
    driver.get(url)
    while driver.execute_script("return window.reviewReady === undefined"):
        time.sleep(0.01)
    return driver.execute_script("return window.reviewReady") / 1000, time.perf_counter() - began


def main() -> None:
    from bonito_hub.generate import review

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--screenshot", help="also write a screenshot of a small run's page here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "big").mkdir()
        (tmp / "none").mkdir()
        big = make_run(tmp / "big", max(1, args.tasks // 6))
        none = make_run(tmp / "none", 2)
        n = len(review.tasks_of(big)["tasks"])
        driver = browser()
        try:
            for name, out in (("baseline, a run of 12 tasks", none), (f"a run of {n:,} tasks", big)):
                server = review.serve(out)
                times = [open_page(driver, server.url) for _ in range(args.repeats)]
                server.shutdown()
                ready = statistics.median(t[0] for t in times)
                waited = statistics.median(t[1] for t in times)
                print(f"{name}: ready {ready:.2f} s after navigation (median of {args.repeats}), "
                      f"{waited:.2f} s as the test waited")
            if args.screenshot:
                (tmp / "small").mkdir()
                small = make_run(tmp / "small", 30)
                server = review.serve(small)
                open_page(driver, server.url)
                from selenium.webdriver.common.by import By
                from selenium.webdriver.support.ui import Select

                Select(driver.find_element(By.ID, "type")).select_by_value("exqa")
                Select(driver.find_element(By.ID, "status")).select_by_value("kept")
                driver.save_screenshot(args.screenshot)
                server.shutdown()
                print(f"screenshot: {args.screenshot}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
