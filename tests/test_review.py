"""`bonito review`: every kept, dropped and held-out task with its passage, decisions saved as they
are made and applied to the training rows and the funnel by exactly what they say; the page in a
real browser (headless Chromium from the Debian packages)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import datasets
import pytest

from bonito_hub.errors import RunError
from bonito_hub.generate import review
from bonito_hub.cli import main
from bonito_hub.testing.engines import ScriptedEngine

ISLANDS = ["Arran", "Barra", "Coll", "Eigg", "Islay", "Jura", "Lewis", "Mull", "Rum", "Skye"]


def make_run(tmp_path: Path, n_docs: int = 30) -> Path:
    """A run of two task types with held-out documents and every kind of drop (the scripted engine)."""
    from bonito_hub.generate import GenerateConfig, generate

    docs = [{"id": f"ferries/{ISLANDS[i % 10].lower()}-{i}.txt",
             "text": f"Ferry {i} leaves Ellmere at {i} past nine for the island of {ISLANDS[i % 10]}. The crossing "
                     f"takes {i + 20} minutes and costs {i + 3} pounds. Passengers with bicycles board first, and "
                     f"dogs travel free on the upper deck of boat {i}."} for i in range(n_docs)]
    corpus = tmp_path / "corpus.jsonl"
    if not corpus.exists():  # written once: the same command again finds the same file
        corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    out = tmp_path / "run"
    generate(GenerateConfig(model=None, input=str(corpus), task_type="exqa,ynqa", n=3, output=out, holdout=0.2,
                            chunk_docs=8, progress=False), engine=ScriptedEngine())
    return out


def rows(out: Path) -> list[dict]:
    return datasets.load_dataset(str(out), "all", split="train").to_list()


def test_every_task_is_shown_with_its_passage_and_decisions_change_exactly_the_rows_they_name(tmp_path):
    out = make_run(tmp_path)
    funnel = json.loads((out / "funnel.json").read_text())
    shown = review.tasks_of(out)["tasks"]
    status = Counter(t["status"] for t in shown)
    assert status == {"kept": funnel["kept"], "heldout": funnel["heldout"]["kept"],
                      "dropped": sum(funnel["dropped"].values())}  # the counts match the funnel
    assert all(t["passage"] for t in shown) and {t["type"] for t in shown} == {"exqa", "ynqa"}
    kept = [t for t in shown if t["status"] == "kept"]
    spans = [t for t in kept if t["type"] == "exqa"]
    assert spans and all(t["response"].lower() in t["passage"].lower() for t in spans)
    assert {t["reason"] for t in shown if t["status"] == "dropped"} >= {"not_yes_no", "not_a_span"}
    assert all(t["generation"] for t in shown if t["status"] == "dropped")  # the raw text a filter saw
    before = rows(out)
    assert len(before) == funnel["kept"] and "edited" not in before[0]

    reject, edit, accept = [kept[0]["id"], kept[1]["id"]], kept[2]["id"], kept[3]["id"]
    decisions = review.Decisions(out)
    decisions.add([{"id": i, "decision": "reject"} for i in reject] +
                  [{"id": edit, "decision": "edit", "instruction": "Which boat is it?", "response": "boat 7"},
                   {"id": accept, "decision": "accept"}], known={t["id"] for t in kept})
    with pytest.raises(Exception, match="not a training row"):
        decisions.add([{"id": next(t["id"] for t in shown if t["status"] == "dropped"), "decision": "reject"}],
                      known={t["id"] for t in kept})
    result = review.apply(out)
    assert (result["rejected"], result["edited"], result["accepted"], result["missing"]) == (2, 1, 1, [])
    after = rows(out)
    assert len(after) == len(before) - 2
    assert {review.task_id(r) for r in after} == {review.task_id(r) for r in before} - set(reject)
    edited = [r for r in after if r["edited"]]
    assert [(review.task_id(r), r["input"], r["output"], r["prompt"], r["completion"]) for r in edited] == \
        [(edit, "Which boat is it?", "boat 7", "Which boat is it?\n\n", "boat 7")]
    untouched = {review.task_id(r): r for r in before}
    assert all({k: v for k, v in r.items() if k != "edited"} == untouched[review.task_id(r)]
               for r in after if not r["edited"])
    applied = json.loads((out / "funnel.json").read_text())
    assert applied["kept"] == funnel["kept"] - 2 and applied["dropped"]["rejected_by_review"] == 2
    assert applied["review"] == {"accept": 1, "reject": 2, "edit": 1}
    assert applied["heldout"] == funnel["heldout"]  # the evaluation sets are not reviewed
    card = (out / "README.md").read_text()
    assert "| dropped: rejected_by_review | 2 |" in card and "rows a person edited" in card
    assert len((out / "dropped" / "rejected_by_review.jsonl").read_text().splitlines()) == 2
    # the page still shows every generated row, with its decision
    assert Counter(t["status"] for t in review.tasks_of(out)["tasks"]) == status

    files = sorted(p.name for p in (out / "data").rglob("*.parquet"))
    assert review.apply(out)["rejected"] == 2 and sorted(p.name for p in (out / "data").rglob("*.parquet")) == files
    decisions.add([{"id": reject[0], "decision": "accept"}])  # a changed mind: the row comes back as generated
    review.apply(out)
    assert len(rows(out)) == len(before) - 1 and json.loads((out / "funnel.json").read_text())["dropped"][
        "rejected_by_review"] == 1
    # a decision for a row the run does not have (hand-written) is reported, never dropped silently
    path = out / review.DECISIONS
    path.write_text(path.read_text() + json.dumps({"id": "999/0/exqa/0", "decision": "reject"}) + "\n")
    assert review.apply(out)["missing"] == ["999/0/exqa/0"]
    assert "999/0/exqa/0" in path.read_text()


def test_a_decisions_file_put_in_by_hand_is_not_taken_for_ours(tmp_path):
    out = make_run(tmp_path)
    theirs = out / review.DECISIONS
    theirs.parent.mkdir(exist_ok=True)
    kept = [t for t in review.tasks_of(out)["tasks"] if t["status"] == "kept"]
    theirs.write_text(json.dumps({"id": kept[0]["id"], "decision": "reject"}) + "\n")
    with pytest.raises(RunError, match="is not a file bonito-hub wrote; move it out of the run folder"):
        review.apply(out)
    assert theirs.read_text().count("\n") == 1  # as they wrote it
    exported = tmp_path / "theirs.jsonl"
    theirs.rename(exported)
    assert review.import_decisions(out, exported)["rejected"] == 1  # the way in for such decisions


def test_a_rerun_keeps_the_decisions_and_push_and_static_pages_use_them(tmp_path, capsys, monkeypatch):
    from bonito_hub.generate import push_dataset

    out = make_run(tmp_path)
    kept = [t for t in review.tasks_of(out)["tasks"] if t["status"] == "kept"]
    review.Decisions(out).add([{"id": kept[0]["id"], "decision": "reject"}])
    review.apply(out)
    reviewed = rows(out)
    make_run(tmp_path)  # the same command again: the run is complete, the decisions stay applied
    assert rows(out) == reviewed and json.loads((out / "funnel.json").read_text())["review"]["reject"] == 1
    review.Decisions(out).add([{"id": kept[1]["id"], "decision": "reject"}])  # saved, not applied yet
    assert review.apply_if_decided(out)["rejected"] == 2 and len(rows(out)) == len(reviewed) - 1

    page = tmp_path / "share.html"
    assert main(["review", str(out), "--static", str(page)]) == 0
    html = page.read_text()
    assert str(tmp_path) not in html and "http://" not in html and "https://" not in html
    assert html.count("<script") == 1 and "<script src" not in html and '"static": true' in html
    assert kept[2]["instruction"].split("\n")[-1] in html
    exported = tmp_path / "decisions.jsonl"  # what the static page's Export button writes
    exported.write_text(json.dumps({"id": kept[2]["id"], "decision": "reject", "at": 1}) + "\n" +
                        json.dumps({"id": "nope/0/exqa/0", "decision": "reject", "at": 1}) + "\n")
    capsys.readouterr()
    assert main(["review", str(out), "--import", str(exported)]) == 0
    printed = capsys.readouterr().out
    assert "3 rows rejected" in printed and "1 decisions name tasks that are not training rows" in printed
    assert len(rows(out)) == len(reviewed) - 2
    upload = push_dataset(out, "me/tasks", dry_run=True)
    assert "| dropped: rejected_by_review | 3 |" in str(upload.card)
    assert upload.files and not [f for f in upload.files if f.startswith(("dropped/", "passages/", "review/"))]
    monkeypatch.setenv("HF_TOKEN", "Ferry 3 leaves Ellmere at 3 past nine")  # a token the data happens to hold
    shared = review.static_page(out, tmp_path / "other.html").read_text()
    assert "Ferry 3 leaves Ellmere at 3 past nine" not in shared and "<token>" in shared
    monkeypatch.delenv("HF_TOKEN")
    (tmp_path / "mine.html").write_text("<html>my page</html>")
    with pytest.raises(Exception, match="is not a page bonito review wrote"):
        review.static_page(out, tmp_path / "mine.html")
    assert (tmp_path / "mine.html").read_text() == "<html>my page</html>"
    assert main(["review", str(tmp_path), "--apply"]) == 2
    assert "is not a `bonito generate` folder" in capsys.readouterr().err


@pytest.mark.slow
def test_the_page_in_headless_chromium(tmp_path):
    """Open the served page, see a span highlighted, filter to a drop reason, reject two rows and
    edit one by keyboard, reload, stop and start the server, and find the rows and the funnel
    changed by exactly those decisions."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.fail("chromium and chromium-driver (Debian packages) are needed: .ci/run installs them")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    out = make_run(tmp_path)
    funnel = json.loads((out / "funnel.json").read_text())
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    server = review.serve(out)
    wait = WebDriverWait(browser, 20)
    try:
        browser.get(server.url)
        wait.until(lambda b: b.execute_script("return window.reviewReady !== undefined"))
        assert f"of {funnel['kept'] + funnel['heldout']['kept'] + sum(funnel['dropped'].values())} tasks" in \
            browser.find_element(By.ID, "count").text
        bars = {b.get_attribute("data-label") for b in browser.find_elements(By.CSS_SELECTOR, "#chart .bar")}
        assert {"generations", "kept", "kept, held out", "dropped: not_yes_no"} <= bars
        Select(browser.find_element(By.ID, "type")).select_by_value("exqa")
        Select(browser.find_element(By.ID, "status")).select_by_value("kept")
        mark = browser.find_element(By.CSS_SELECTOR, "#d-passage mark")
        assert mark.text.lower() == browser.find_element(By.ID, "d-response").text.lower().rstrip(".")
        Select(browser.find_element(By.ID, "status")).select_by_value("dropped:not_yes_no")
        Select(browser.find_element(By.ID, "type")).select_by_value("")
        listed = browser.find_elements(By.CSS_SELECTOR, "#list .task")
        assert listed and len(listed) == funnel["dropped"]["not_yes_no"]

        Select(browser.find_element(By.ID, "status")).select_by_value("kept")
        body = browser.find_element(By.TAG_NAME, "body")
        browser.execute_script("document.activeElement.blur()")  # the keys go to the page, not the select
        ids = [t.get_attribute("data-id") for t in browser.find_elements(By.CSS_SELECTOR, "#list .task")[:3]]
        body.send_keys("r")
        wait.until(lambda b: "saved" in b.find_element(By.ID, "message").text)
        body.send_keys("j")
        body.send_keys("r")
        wait.until(lambda b: ids[1] in b.find_element(By.ID, "message").text)
        body.send_keys("j")
        body.send_keys("e")
        response = browser.find_element(By.ID, "e-response")
        response.clear()
        response.send_keys("an answer a person wrote")
        response.send_keys(Keys.CONTROL, Keys.ENTER)
        wait.until(lambda b: f"edit: {ids[2]} saved" in b.find_element(By.ID, "message").text)

        for restart in (False, True):  # a reload, then a server killed and started again
            if restart:
                server.shutdown()
                server.server_close()
                server = review.serve(out)
            browser.get(server.url)
            wait.until(lambda b: b.execute_script("return window.reviewReady !== undefined"))
            badges = {t.get_attribute("data-id"): t.find_element(By.CSS_SELECTOR, ".decision").text
                      for t in browser.find_elements(By.CSS_SELECTOR, "#list .task")
                      if t.find_elements(By.CSS_SELECTOR, ".decision")}
            assert badges == {ids[0]: "reject", ids[1]: "reject", ids[2]: "edit"}
        browser.save_screenshot(str(tmp_path / "review.png"))
    finally:
        browser.quit()
        server.shutdown()
    after = json.loads((out / "funnel.json").read_text())
    assert after["kept"] == funnel["kept"] - 2 and after["review"] == {"accept": 0, "reject": 2, "edit": 1}
    reviewed = {review.task_id(r): r for r in rows(out)}
    assert ids[0] not in reviewed and ids[1] not in reviewed
    assert reviewed[ids[2]]["output"] == "an answer a person wrote" and reviewed[ids[2]]["edited"]


def test_sharded_and_resumed_runs_keep_the_same_review_files_and_a_flag_turns_them_off(tmp_path, monkeypatch):
    from bonito_hub.generate import GenerateConfig, generate
    from bonito_hub.generate.folder import Interrupted, RunFolder

    whole = make_run(tmp_path)
    corpus = tmp_path / "corpus.jsonl"
    config = dict(model=None, input=str(corpus), task_type="exqa,ynqa", n=3, holdout=0.2, chunk_docs=8,
                  progress=False)
    for i in range(2):
        generate(GenerateConfig(**config, output=tmp_path / "sharded", shard=f"{i}/2"), engine=ScriptedEngine())
    original = RunFolder.write_chunk

    def die_after_two(self, k, *args, **kwargs):
        if k == 2:
            raise KeyboardInterrupt
        original(self, k, *args, **kwargs)

    monkeypatch.setattr(RunFolder, "write_chunk", die_after_two)
    with pytest.raises(Interrupted):
        generate(GenerateConfig(**config, output=tmp_path / "resumed"), engine=ScriptedEngine())
    monkeypatch.setattr(RunFolder, "write_chunk", original)
    generate(GenerateConfig(**config, output=tmp_path / "resumed"), engine=ScriptedEngine())
    shown = review.tasks_of(whole)["tasks"]
    for other in ("sharded", "resumed"):
        assert review.tasks_of(tmp_path / other)["tasks"] == shown
    generate(GenerateConfig(**config, output=tmp_path / "lean", keep_for_review=False), engine=ScriptedEngine())
    assert not (tmp_path / "lean" / "passages").exists() and not list((tmp_path / "lean").glob("dropped/chunk-*"))
    lean = review.tasks_of(tmp_path / "lean")["tasks"]
    assert rows(tmp_path / "lean") == rows(whole)  # the same run: the flag decides no row
    assert {t["status"] for t in lean} == {"kept", "heldout"} and not any(t["passage"] for t in lean
                                                                        if t["status"] == "kept")


def test_the_served_command_saves_each_decision_holds_the_folder_and_survives_a_kill(tmp_path, tiny_bonito, capsys):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    out = make_run(tmp_path)
    kept = [t for t in review.tasks_of(out)["tasks"] if t["status"] == "kept"]
    env = {**os.environ, "BROWSER": "false"}
    server = subprocess.Popen([sys.executable, "-m", "bonito_hub.cli", "review", str(out), "--no-browser"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert line.startswith("reviewing run at http://127.0.0.1:"), line + server.stderr.read()
        url = line.split(" at ")[1].split(" ")[0]
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert kept[0]["id"] in page and "<title>bonito review</title>" in page
        request = urllib.request.Request(url + "api/decisions", method="POST", headers={"Content-Type": "application/json"},
                                         data=json.dumps([{"id": kept[0]["id"], "decision": "reject"}]).encode())
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert answer["ok"] and answer["funnel"]["dropped"]["rejected_by_review"] == 1
        bad = urllib.request.Request(url + "api/decisions", method="POST",
                                     data=json.dumps([{"id": "0/0/exqa/9", "decision": "maybe"}]).encode())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=30)
        assert refused.value.code == 400
        # one writer a folder: a generation into it is refused while the review holds it
        assert main(["generate", "--model", tiny_bonito, "--input", str(tmp_path / "corpus.jsonl"), "--task-type",
                     "exqa", "--output", str(out), "--no-progress"]) == 2
        assert "another bonito-hub process" in capsys.readouterr().err
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    decisions = review.Decisions(out).read()
    assert [(d["id"], d["decision"]) for d in decisions.values()] == [(kept[0]["id"], "reject")]
    assert len(rows(out)) == json.loads((out / "funnel.json").read_text())["kept"] == len(kept) - 1
