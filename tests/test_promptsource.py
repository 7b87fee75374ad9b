import tarfile

import pytest

from bonito_hub.ctga import promptsource


def test_archive_is_verified(promptsource_dir):
    path = promptsource.fetch_archive(promptsource_dir)
    assert promptsource._sha256(path) == promptsource.ARCHIVE_SHA256


def test_wrong_archive_is_refused(tmp_path):
    (tmp_path / promptsource.ARCHIVE_NAME).write_bytes(b"not the archive")
    with pytest.raises(promptsource.PromptsourceError, match="sha256"):
        promptsource.fetch_archive(tmp_path)


def test_templates_of_the_ctga_sources(templates, registry):
    # 357 templates for the 38 sources and multi_news (PAPER.md).
    names = set(registry) | {"multi_news"}
    assert len(registry) == 38
    assert sum(len(templates[n]) for n in names) == 357
    squad = {t.name: t for t in templates["squad"]}
    t = squad["answer_question_given_context"]
    assert "{{context}}" in t.jinja and "|||" in t.jinja
    assert t.id == "3d85b5b0-51db-4d72-8ead-d0b3654025ee"
    assert t.metadata["original_task"] is True


def test_unpacked_tree_reads_the_same(promptsource_dir, templates, tmp_path):
    with tarfile.open(promptsource.fetch_archive(promptsource_dir)) as tar:
        members = [m for m in tar.getmembers() if "/templates/super_glue/" in m.name or "/templates/squad/" in m.name]
        # extraction filters came in Python 3.11.4 (Debian 12's python3 is 3.11.2)
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp_path, members=members, **safe)
    unpacked = promptsource.load_templates(tmp_path)
    assert "squad" in unpacked and "super_glue/boolq" in unpacked
    assert all(name == "squad" or name.startswith("super_glue/") for name in unpacked)
    assert unpacked["squad"] == templates["squad"]


def test_only_requested_datasets_are_parsed(promptsource_dir):
    subset = promptsource.load_templates(promptsource_dir, {"imdb", "anli"})
    assert set(subset) == {"imdb", "anli"}


def test_folder_without_templates(tmp_path):
    with pytest.raises(promptsource.PromptsourceError, match="no promptsource"):
        promptsource.load_templates(tmp_path)
