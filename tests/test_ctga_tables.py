"""The source registry and the task-type table against the real promptsource templates."""

import copy

import pytest
import random
import re
from collections import Counter


from bonito_hub import tasks
from bonito_hub.ctga.catalog import build_catalog, check_coverage, load_table
from bonito_hub.ctga.meta_template import Renderer, RenderSkip
from bonito_hub.format import CONTEXT_PLACEHOLDER, generator_input, generator_target, parse_generation

PASSAGE_FIELDS = {
    "cosmos_qa": "context", "social_i_qa": "context", "paws/labeled_final": "sentence1", "quail": "context",
    "squad": "context", "dream": "dialogue", "qasc": "fact1", "wiki_hop/original": "supports", "race/all": "article",
    "hellaswag": "ctx", "super_glue/boolq": "passage", "adversarial_qa/dbert": "context",
    "adversarial_qa/dbidaf": "context", "adversarial_qa/droberta": "context", "quoref": "context",
    "duorc/ParaphraseRC": "plot", "duorc/SelfRC": "plot", "ropes": "background", "super_glue/record": "passage",
    "amazon_polarity": "content", "app_reviews": "review", "imdb": "text", "rotten_tomatoes": "text",
    "yelp_review_full": "text", "cnn_dailymail/3.0.0": "article", "gigaword": "document", "samsum": "dialogue",
    "xsum": "document", "ag_news": "text", "dbpedia_14": "content", "glue/mrpc": "sentence1",
    "super_glue/wsc.fixed": "text", "super_glue/wic": "sentence1", "super_glue/copa": "premise",
    "super_glue/rte": "premise", "super_glue/cb": "premise", "anli": "premise", "quartz": "para",
}


def test_registry_matches_the_paper(registry):
    assert {name: s.passage for name, s in registry.items()} == PASSAGE_FIELDS
    assert registry["anli"].split == "train_r3"
    assert all(s.repo and "/" in s.repo for s in registry.values())
    script_repos = {"cosmos_qa", "dream", "wiki_hop/original", "quoref", "gigaword", "samsum", "xsum"}
    assert {n for n, s in registry.items() if s.revision == "refs/convert/parquet"} == script_repos


def test_every_template_is_covered_exactly_once(templates, registry):
    table = load_table()
    assert check_coverage(table, templates, list(registry) + ["multi_news"]) == []
    entries = [e for name in list(registry) + ["multi_news"] for e in table[name]]
    assert len(entries) == 357
    assigned = Counter(e["task_type"] for e in entries if "task_type" in e)
    assert sum(assigned.values()) == 325
    assert set(assigned) == set(tasks.short_names())  # every task type has templates
    assert all(e.get("exclude") for e in entries if "task_type" not in e)


def test_coverage_check_catches_mistakes(templates, registry):
    table = load_table()
    broken = copy.deepcopy(table)
    dropped = broken["squad"].pop()
    broken["imdb"].append(dict(broken["imdb"][0]))
    broken["ag_news"][0]["task_type"] = "poetry"
    broken["xsum"][0]["exclude"] = "both"
    problems = "\n".join(check_coverage(broken, templates, list(registry)))
    assert dropped["id"] in problems
    assert "listed more than once" in problems
    assert "unknown task type 'poetry'" in problems
    assert "exactly one of task_type or exclude" in problems


def test_every_assigned_template_renders_on_the_fixtures(templates, registry, fixture_rows):
    catalog = build_catalog(templates, list(registry))
    renderer = Renderer()
    failures = []
    for name, assigned in catalog.assigned.items():
        source = registry[name]
        for a in assigned:
            made = 0
            for i, row in enumerate(fixture_rows[name]):
                try:
                    r = renderer.render(a.template, source.passage, row, random.Random(i))
                except RenderSkip as skip:
                    # only the templates' own conditions (e.g. DuoRC's no_answer) may skip a row
                    assert skip.reason == "no_response", (name, a.template.name, skip)
                    continue
                made += 1
                assert CONTEXT_PLACEHOLDER in r.instruction
                assert "\ue000" not in r.instruction + r.response  # no marker leaks
                text_in = generator_input(a.task_type, r.passage)
                assert re.fullmatch(r"<\|tasktype\|>\n[a-z -]+\n<\|context\|>\n.+\n<\|task\|>\n", text_in, re.S)
                parsed = parse_generation(generator_target(r.instruction, r.response), r.passage)
                assert parsed.ok and r.passage in parsed.input
            if not made:
                failures.append(f"{name} / {a.template.name}")
    assert not failures, failures


def test_fixture_rows_cover_every_source(fixture_rows):
    assert len(fixture_rows) == 38 and all(len(rows) >= 3 for rows in fixture_rows.values())


def test_ctga_v1_table_is_the_released_one(templates, registry):
    from bonito_hub.ctga.catalog import ctga_v1_rows, table_differences

    released = ctga_v1_rows()
    assert len(released) == 323 and {s for s, _ in released} <= set(registry)
    catalog = build_catalog(templates, list(registry), "ctga-v1")
    chosen = {(s, a.template.name): a.task_type for s, items in catalog.assigned.items() for a in items}
    assert chosen == released  # exactly CTGA-v1's templates, with its task types
    diff = table_differences(load_table("bonito-hub"), load_table("ctga-v1", templates))
    assert {k: len(v) for k, v in diff.items()} == {"changed_type": 24, "only_in_this_table": 10, "only_in_ours": 12}
    assert "race/all: Is this the right answer (ynqa)" not in diff["only_in_this_table"]


@pytest.mark.slow
def test_ctga_v1_build_holds_exactly_its_templates(promptsource_dir, tmp_path):
    """Enough rows a source that every template is drawn: the rows hold CTGA-v1's templates, no other."""
    import json

    import datasets

    from bonito_hub.ctga.build import build
    from bonito_hub.ctga.builder import CtgaConfig
    from bonito_hub.ctga.catalog import ctga_v1_rows
    from bonito_hub.testing.sources import write_sources

    write_sources(tmp_path / "sources", 150)
    out = tmp_path / "ctga"
    record = build(CtgaConfig(sources_dir=str(tmp_path / "sources"), promptsource_dir=promptsource_dir,
                              task_table="ctga-v1", validation_fraction=0.0), out)
    assert record["templates_per_source"] and sum(record["templates_per_source"].values()) == 323
    rows = datasets.load_dataset(str(out), split="train")
    seen = {(d + (f"/{c}" if c else ""), t, tt) for d, c, t, tt in
            zip(rows["dataset"], rows["dataset_config"], rows["template"], rows["task_type"])}
    assert {(s, t) for s, t, _ in seen} == set(ctga_v1_rows())
    assert all(tasks.normalize(tt) == ctga_v1_rows()[(s, t)] for s, t, tt in seen)
    card = (out / "README.md").read_text()
    assert "`ctga-v1`: exactly CTGA-v1's templates" in card and "kept by bonito-hub, not here: 12" in card
    assert json.loads((out / "ctga_build.json").read_text())["task_table"]["name"] == "ctga-v1"
