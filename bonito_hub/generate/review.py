"""`bonito review OUT`: every task of a generation run beside its source passage, the dropped ones
with their reasons, and a person's decisions (accept, reject, edit) fed back into the training set.

    tasks(folder)              every kept, dropped and held-out task with its passage (what the page shows)
    Decisions(folder)          OUT/review/decisions.jsonl: one line a decision, the last for a task wins;
                               the whole file rewritten atomically at each decision
    apply(folder)              the decisions applied to the training rows: chunk by chunk, from the rows
                               the generation wrote (kept aside in the chunk's record the first time),
                               so applying again, or after a decision changed, gives the same rows
    serve(folder, port)        the page on 127.0.0.1 (the standard library's HTTP server)
    static_page(folder)        one self-contained HTML file: no server, no network, no path of this machine

A task is named by where it comes from: `DOC/PASSAGE/TYPE/SAMPLE` (document index, passage number,
short task type, sample), the same in every run with the same identity, so a resumed or re-run
generation keeps the decisions. Decisions are taken for training rows only: a dropped or held-out
task is shown, not changed. The web stack, and why: docs/design.md ("Reviewing what was made").
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid
from collections import Counter
from pathlib import Path

from bonito_hub import records, resources, tasks
from bonito_hub.console import get_logger
from bonito_hub.errors import ConfigError, RunError

log = get_logger(__name__)
DECISIONS = "review/decisions.jsonl"
KINDS = ("accept", "reject", "edit")
REASON = "rejected_by_review"


def task_id(row: dict) -> str:
    return f"{row['doc_index']}/{row['passage_index']}/{tasks.normalize(row['task_type'])}/{row['sample']}"


def _run(folder: Path) -> tuple[dict, dict]:
    from bonito_hub.generate.folder import RUN_FILE, finished_chunks

    record = records.read_record(folder / RUN_FILE)
    if record is None:
        raise ConfigError(f"`folder` {folder} is not a `bonito generate` folder (no {RUN_FILE} in it)", field="folder")
    return record, finished_chunks(folder)


def _original(record: dict) -> dict:
    """A chunk record's training files as the generation wrote them (before any review)."""
    review = record.get("review")
    return review["original"] if review else {"data_file": record.get("data_file"),
                                              "data_files": dict(record.get("data_files") or {})}


def _files(original: dict) -> list[str]:
    return ([original["data_file"]] if original.get("data_file") else []) + list((original.get("data_files") or {}).values())


def _read(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist() if path.is_file() else []


def tasks_of(folder: str | Path) -> dict:
    """What the page shows: {"tasks": [...], "funnel", "types", "model", "complete"}. Each task:
    id, type, status (kept, dropped, heldout), reason (dropped), instruction, response, raw
    generation (dropped), doc (the document's id), passage (its text, where the run kept it)."""
    from bonito_hub.generate.funnel import Funnel

    folder = Path(folder)
    record, done = _run(folder)
    passages: dict[tuple[int, int], str] = {}
    out: list[dict] = []

    def add(row: dict, status: str, reason: str | None = None) -> None:
        out.append({"id": task_id(row), "type": tasks.normalize(row["task_type"]), "status": status, "reason": reason,
                    "instruction": row.get("input"), "response": row.get("output"),
                    "generation": row.get("generation"), "doc": row["doc_id"], "doc_index": row["doc_index"],
                    "passage_index": row["passage_index"], "sample": row["sample"]})

    for _, chunk in sorted(done.items()):
        for row in _read(folder / chunk["passages_file"]) if chunk.get("passages_file") else []:
            passages[(row["doc_index"], row["passage_index"])] = row["passage"]
        for f in _files(_original(chunk)):
            for row in _read(folder / f):
                add(row, "kept")
        if chunk.get("heldout_file"):
            for row in _read(folder / chunk["heldout_file"]):
                passages.setdefault((row["doc_index"], row["passage_index"]), row["passage"])
                add(row, "heldout")
        if chunk.get("dropped_file"):
            for row in _read(folder / chunk["dropped_file"]):
                add(row, "dropped", row["reason"])
    near = folder / "dropped" / "near_duplicate.jsonl"
    if near.is_file():  # taken out of the kept rows after the run: shown as dropped, not kept
        gone = {task_id(json.loads(line)) for line in near.read_text(encoding="utf-8").splitlines() if line.strip()}
        for task in out:
            if task["status"] == "kept" and task["id"] in gone:
                task["status"], task["reason"] = "dropped", "near_duplicate"
    for task in out:
        task["passage"] = passages.get((task.pop("doc_index"), task.pop("passage_index")))
    out.sort(key=lambda t: (t["status"] != "kept", [int(x) if x.isdigit() else x for x in t["id"].split("/")]))
    funnel = Funnel.read(folder) or Funnel.aggregate(done, max(done, default=-1) + 1)
    model = record.get("model", "")
    from bonito_hub import hub

    return {"tasks": out, "funnel": funnel.to_dict(), "types": tasks.parse_types(record["options"]["task_type"]),
            "model": Path(model).name if hub.is_local(model) else model, "complete": Funnel.read(folder) is not None,
            "name": folder.resolve().name}


class Decisions:
    """OUT/review/decisions.jsonl: {"id", "decision", "instruction"?, "response"?, "at"} a line;
    the last line for a task is its decision. Each change rewrites the file atomically (a crash
    of the page or the server loses no decision that was answered)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / DECISIONS

    def read(self) -> dict[str, dict]:
        """The decisions bonito-hub saved; a file at that place that no manifest lists (put there by
        hand) is not taken for them: a RunError says how to bring such decisions in."""
        from bonito_hub.folders import nearest_manifest

        if not self.path.is_file():
            return {}
        manifest = nearest_manifest(self.path)
        if manifest is not None and manifest.relative(self.path) not in manifest.entries():
            raise RunError(f"{DECISIONS} in {self.folder.name} is not a file bonito-hub wrote; move it out of the "
                           "run folder, and bring decisions in with `bonito review --import FILE`", field="folder")
        latest: dict[str, dict] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                decision = json.loads(line)
                latest[decision["id"]] = decision
        return latest

    def add(self, new: list[dict], known: set[str] | None = None) -> dict[str, dict]:
        """Check and add decisions; returns them all. A decision for a task that is not a training
        row of the run (`known`) is refused (RunError)."""
        from bonito_hub.folders import write_atomic

        for d in new:
            if d.get("decision") not in KINDS:
                raise RunError(f"a decision is one of {', '.join(KINDS)}, got {d.get('decision')!r}")
            if known is not None and d.get("id") not in known:
                raise RunError(f"{d.get('id')!r} is not a training row of this run (dropped and held-out tasks are "
                               "shown, not changed)")
            if d["decision"] == "edit" and not (str(d.get("instruction") or "").strip() and
                                                str(d.get("response") or "").strip()):
                raise RunError(f"an edit of {d['id']} needs an instruction and a response")
        latest = self.read()
        for d in new:
            d = {key: d[key] for key in ("id", "decision", "instruction", "response") if d.get(key) is not None}
            latest[d["id"]] = {**d, "at": round(time.time(), 3)}
        self.path.parent.mkdir(exist_ok=True)
        write_atomic(self.path, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in latest.values()))
        return latest


def _digest(decisions: list[dict]) -> str:
    return hashlib.sha256(json.dumps(sorted((d["id"], d["decision"], d.get("instruction"), d.get("response"))
                                            for d in decisions)).encode()).hexdigest()[:16]


def apply(folder: str | Path) -> dict:
    """Apply the decisions to the training rows of a complete run: each chunk's data files written
    again from the rows the generation wrote, less the rejected ones (counted as
    `rejected_by_review`, kept in dropped/rejected_by_review.jsonl), with the edited ones replaced
    and marked (an `edited` column, in every file once any decision was applied); the funnel and the
    card follow. A chunk whose decisions did not change is left as it is. Returns {"applied",
    "rejected", "edited", "accepted", "missing": ids of decisions for rows not in the run}."""
    from bonito_hub.folders import lock

    folder = Path(folder)
    with lock(folder, field="folder"):
        return _apply(folder)


def _apply(folder: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bonito_hub.folders import Manifest, write_atomic
    from bonito_hub.generate.folder import RunFolder, schema, trl_columns, written_format
    from bonito_hub.generate.funnel import Funnel

    record, done = _run(folder)
    funnel_before = Funnel.read(folder)
    if funnel_before is None:
        raise RunError(f"{folder} holds an unfinished run: finish it (run the same `bonito generate` command again) "
                       "before applying review decisions", field="folder")
    decisions = Decisions(folder).read()
    if not decisions and not any("review" in r for r in done.values()):
        return {"applied": 0, "rejected": 0, "edited": 0, "accepted": 0, "missing": []}
    fmt = written_format(record, folder)
    columns = schema(fmt)
    columns = columns.append(pa.field("edited", pa.bool_()))
    seen, totals, manifest, rejected_rows = set(), Counter(), Manifest(folder), []
    for k, chunk in sorted(done.items()):
        original = _original(chunk)
        rows_by_file = {f: _read(folder / f) for f in _files(original)}
        mine = {task_id(r) for rows in rows_by_file.values() for r in rows}
        mine_decisions = [d for i, d in decisions.items() if i in mine]
        seen |= {d["id"] for d in mine_decisions}
        digest = _digest(mine_decisions)
        counted = Counter(d["decision"] for d in mine_decisions)
        totals.update(counted)
        by_id = {d["id"]: d for d in mine_decisions}
        rejected_rows += [{**r, "reason": REASON} for rows in rows_by_file.values() for r in rows
                          if by_id.get(task_id(r), {}).get("decision") == "reject"]
        if chunk.get("review", {}).get("digest") == digest:
            continue
        new = copy.deepcopy(chunk)
        review = new.setdefault("review", {"original": original, "original_counts": copy.deepcopy(chunk["counts"])})
        counts = copy.deepcopy(review["original_counts"])
        old_files = [f for f in _files({"data_file": chunk.get("data_file"), "data_files": chunk.get("data_files")})
                     if f not in _files(original)]
        new["data_file"] = None
        if "data_files" in chunk:
            new["data_files"] = {}
        for f, rows in rows_by_file.items():
            out = []
            for r in rows:
                d = by_id.get(task_id(r))
                if d and d["decision"] == "reject":
                    continue
                r = dict(r, edited=bool(d and d["decision"] == "edit"))
                if r["edited"]:
                    r["input"], r["output"] = d["instruction"], d["response"]
                    r.update(trl_columns(fmt, r["input"], r["output"]))
                out.append(r)
            gone = len(rows) - len(out)
            name = None
            if out:
                sub = f.split("/", 1)[1].rsplit("chunk-", 1)[0]
                name = f"data/{sub}chunk-{k:06d}-{uuid.uuid4().hex[:12]}.parquet"
                table = pa.Table.from_pylist(out, schema=columns)
                write_atomic(folder / name, lambda path, t=table: pq.write_table(t, path))
            if f == original.get("data_file"):
                new["data_file"] = name
            for short, file in (original.get("data_files") or {}).items():
                if file == f:
                    if name:
                        new["data_files"][short] = name
                    if counts.get("by_type", {}).get(short):
                        counts["by_type"][short]["kept"] -= gone
            counts["kept"] -= gone
            if gone:
                counts["dropped"] = dict(sorted({**counts["dropped"], REASON: counts["dropped"].get(REASON, 0) + gone}.items()))
        counts["review"] = {kind: counted.get(kind, 0) for kind in KINDS}
        new["counts"], review["digest"] = counts, digest
        write_atomic(folder / "chunks" / f"chunk-{k:06d}.json", json.dumps(new))
        for f in old_files:  # the record names the new files now; the generation's stay, named in `review`
            (folder / f).unlink(missing_ok=True)
            manifest.forget(f)
    missing = sorted(set(decisions) - seen)
    listing = folder / "dropped" / f"{REASON}.jsonl"
    if rejected_rows or listing.is_file():
        listing.parent.mkdir(exist_ok=True)
        write_atomic(listing, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejected_rows))
    from bonito_hub.generate.folder import finished_chunks

    done = finished_chunks(folder)
    funnel = Funnel.aggregate(done, funnel_before.chunks)
    funnel.heldout = funnel_before.heldout or funnel.heldout  # the evaluation sets are not reviewed
    run = RunFolder.__new__(RunFolder)  # the card needs only the folder
    run.output = folder
    run.write_card(funnel, done, record)
    funnel.write(folder)
    if missing:
        log.warning("%d review decisions name tasks that are not training rows of this run (kept in %s): %s",
                    len(missing), DECISIONS, ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    return {"applied": len(seen), "rejected": totals["reject"], "edited": totals["edit"], "accepted": totals["accept"],
            "missing": missing}


def apply_if_decided(folder: str | Path) -> dict | None:
    """`apply` where the run has review decisions (before a push or a training uses its rows);
    None where it has none. A chunk whose decisions did not change is not written again."""
    folder = Path(folder)
    if not (folder / DECISIONS).is_file() or not (folder / records.FUNNEL).is_file():
        return None
    return apply(folder)


def digest(folder: str | Path) -> str | None:
    """The decisions applied to a run's rows, as a short hash (None where there are none): what a
    step that reads the rows (`bonito adapt`'s overlap and training) was made from. Applies
    pending decisions first."""
    if apply_if_decided(folder) is None:
        return None
    decisions = list(Decisions(folder).read().values())
    return _digest(decisions) if decisions else None


def import_decisions(folder: str | Path, source: str | Path) -> dict:
    """Merge decisions exported from a static page (a JSON Lines file) into the run's, then apply."""
    lines = Path(source).read_text(encoding="utf-8").splitlines()
    try:
        new = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as exc:
        raise ConfigError(f"`import` {source}: not the decisions a review page exports (line {exc.lineno + 0}: "
                          f"{exc.msg})", field="import") from None
    known = {t["id"] for t in tasks_of(folder)["tasks"] if t["status"] == "kept"}
    unknown = [d.get("id") for d in new if d.get("id") not in known]
    Decisions(folder).add([d for d in new if d.get("id") in known])
    result = apply(folder)
    result["missing"] = sorted(set(result["missing"]) | set(map(str, unknown)))
    return result


def page(folder: str | Path, static: bool = False) -> str:
    """The review page with the run's tasks in it: served (decisions go to the server) or static
    (decisions stay in the browser and are exported as a file; every path of this machine in the
    data made public and every token replaced, bonito_hub.privacy)."""
    data = tasks_of(folder)
    data["decisions"] = {} if static else Decisions(folder).read()
    data["static"] = static
    if static:
        from bonito_hub import privacy

        data = privacy.public_record(data, base=Path(folder).resolve())
    blob = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")  # no </script> inside the data
    return resources.read_text("review/page.html").replace("/*DATA*/null", blob)


def static_page(folder: str | Path, path: str | Path) -> Path:
    """One self-contained HTML file to share: no server, no network, no path of this machine, its
    tokens replaced by `<token>` (`page`); a page that would still hold one is not written. An
    existing file is replaced only if it is such a page."""
    import os

    from bonito_hub import privacy

    html = page(folder, static=True)
    if any(t and t in html for t in privacy.tokens()):
        raise RunError("the page would hold a token of this machine; it was not written", field="static")
    path = Path(path)
    if path.is_dir() or (path.exists() and "<title>bonito review</title>" not in path.read_text(errors="replace")[:600]):
        raise ConfigError(f"`static` {path} exists and is not a page bonito review wrote; choose another file",
                          field="static")
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path


def serve(folder: str | Path, port: int = 0):
    """A server of the review page on 127.0.0.1:`port` (0: a free one), in a thread; returns it
    (`server.url`, `server.shutdown()`). Each decision is written (Decisions.add) and applied
    before it is answered."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    folder = Path(folder)
    guard = threading.Lock()
    known = {t["id"] for t in tasks_of(folder)["tasks"] if t["status"] == "kept"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # the terminal shows what bonito says, not each request
            pass

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.split("?")[0] != "/":
                return self._send(404, b"not found", "text/plain")
            with guard:
                html = page(folder)
            self._send(200, html.encode(), "text/html; charset=utf-8")

        def do_POST(self):
            if self.path != "/api/decisions":
                return self._send(404, b"not found", "text/plain")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"[]")
                with guard:
                    Decisions(folder).add(body if isinstance(body, list) else [body], known)
                    result = apply(folder) if Path(folder, records.FUNNEL).is_file() else {}
                    funnel = tasks_of(folder)["funnel"]
                self._send(200, json.dumps({"ok": True, "result": result, "funnel": funnel}).encode(),
                           "application/json")
            except (RunError, ConfigError, ValueError, KeyError) as exc:
                self._send(400, json.dumps({"ok": False, "error": str(exc)}).encode(), "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"
    threading.Thread(target=server.serve_forever, name="bonito-review", daemon=True).start()
    return server
