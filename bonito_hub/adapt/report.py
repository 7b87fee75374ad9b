"""What a `bonito adapt` run reports: the summary adapt.json keeps (examples kept, every evaluation
set's scores before and after, the overlap figures, seconds a step) and the table that ends a run."""

from __future__ import annotations

from bonito_hub import records
from bonito_hub.generate import Funnel
from bonito_hub.records import read_record

# a held-out set whose rows share text with the training rows beyond this share shows no gain: its
# documents were not unseen (the generation leaves such rows out; this catches what gets past it)
MAX_HELDOUT_OVERLAP = 0.05


def summary(run) -> dict:
    """examples kept; each evaluation set's rows and mean scores before and after (`scores` and
    `metrics`: the labelled target's); the overlap figures; seconds per step."""
    funnel = Funnel.read(run.folder("generate"))
    evaluations = []
    for es in run.evaluation_sets():
        scored = {s: read_record(run.folder(s) / es.name / records.SCORES) for s in ("before", "after")}
        if any(scored.values()):
            first = next(r for r in scored.values() if r)
            evaluations.append({"name": es.name, "title": es.title, "generated": es.generated,
                                "rows": first["target"]["rows"], "metrics": first["metrics"],
                                **{s: r["scores"]["mean"] for s, r in scored.items() if r},
                                **({"baseline": first["baseline"]} if first.get("baseline") else {})})
    target = next((e for e in evaluations if e["name"] == "target"), None)
    heldout = funnel.heldout if funnel else None
    overlap = read_record(run.folder("overlap") / records.OVERLAP)
    return {
        "examples_kept": funnel.kept if funnel else None,
        "generations": funnel.generations if funnel else None,
        **({"heldout": {"documents": heldout.documents, "kept": heldout.kept}} if heldout else {}),
        "evaluations": evaluations,
        "scores": {s: target[s] for s in ("before", "after") if s in target} if target else {},
        "metrics": target["metrics"] if target else [],
        **({"overlap": overlap_summary(overlap)} if overlap else {}),
        "seconds": {s.name: run.record["steps"].get(s.name, {}).get("seconds") for s in run.steps},
    }




def overlap_summary(report: dict) -> dict:
    """The overlap figures a card gives: shares and counts, no text of any row."""
    keep = ("evaluation", "ngram", "evaluation_rows", "overlapping_rows", "share", "corpus_texts", "overlapping_texts")
    out = {"ngram": report["ngram"], "training": {name: {k: r[k] for k in keep}
                                                 for name, r in report.get("training", {}).items()}}
    if "corpus" in report:
        out["corpus"] = {k: report["corpus"][k] for k in keep}
    return out


def summary_table(record: dict) -> str:
    """The table that ends a run: examples kept; scores before and after on each evaluation set,
    the held-out ones marked as generated, beside what always giving the commonest answer scores
    (classification), with the share of each answer; the overlap figures; time per step."""
    summary = record.get("summary") or {}
    lines = [f"examples kept: {summary.get('examples_kept')} of {summary.get('generations')} generations"]
    if summary.get("heldout"):
        held = summary["heldout"]
        lines[0] += f" ({held['kept']} more from {held['documents']} held-out documents, kept for evaluation)"
    training_overlap = (summary.get("overlap") or {}).get("training", {})
    for e in summary.get("evaluations") or []:
        what = "generated from your held-out documents, not human-labelled" if e["generated"] else "labelled"
        lines.append(f"{e['title']}: {e['rows']} rows, {what}")
        baseline = e.get("baseline") or {}
        if baseline:
            total = sum(baseline["labels"].values()) or 1
            lines.append("  answers: " + ", ".join(f"{a} {100 * c / total:.0f}%" for a, c in baseline["labels"].items())
                         + ("; the options change from row to row, so accuracy only" if baseline["choices"] == "per_row"
                            else ""))
        share = (training_overlap.get(e["name"]) or {}).get("share", 0)
        if e["generated"] and share > MAX_HELDOUT_OVERLAP:
            lines.append(f"  no gain shown: {100 * share:.1f}% of its rows share a 13-word n-gram with the training "
                         "rows, so these documents were not unseen (does the corpus hold copies of its documents?)")
            continue
        always = f"always {baseline['answer']}" if baseline else ""
        lines.append(f"  {'metric':<14}{'before':>10}{'after':>10}{'change':>10}" + (f"  {always}" if always else ""))
        for m in e["metrics"]:
            b, a = ((e.get(s) or {}).get(m) for s in ("before", "after"))
            change = f"{a - b:+10.1f}" if a is not None and b is not None else f"{'':>10}"
            majority = (baseline.get("scores") or {}).get(m)
            lines.append(f"  {m:<14}" + "".join(f"{v:>10.1f}" if v is not None else f"{'-':>10}" for v in (b, a))
                         + change + (f"  {majority:>{len(always)}.1f}" if majority is not None else ""))
    overlap = summary.get("overlap")
    if overlap:
        said = []
        if "corpus" in overlap:
            c = overlap["corpus"]
            said.append(f"{100 * c['share']:.1f}% of {c['evaluation']}'s rows share a {overlap['ngram']}-word n-gram "
                        f"with the corpus ({c['overlapping_texts']} documents)")
        for r in overlap.get("training", {}).values():
            said.append(f"{100 * r['share']:.1f}% of {r['evaluation']}'s rows with the training rows")
        lines.append("overlap: " + "; ".join(said))
    lines.append("  " + ", ".join(f"{step} {s if s is not None else '(done earlier)'} s"
                                  for step, s in (summary.get("seconds") or {}).items()))
    return "\n".join(lines)
