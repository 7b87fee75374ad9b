"""Nothing of the machine leaves it (bonito_hub.privacy): paths of every form are rewritten in what
is uploaded (a property test over generated paths), and an upload holding a token of this machine,
in a record or in a data file's column, is refused before anything is sent."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bonito_hub.cli import main
from bonito_hub.privacy import find_tokens, public_record, public_text

from conftest import TOKEN  # noqa: E402

# Segments of this machine's paths: letters, digits, spaces, parentheses, quotes and dashes, each
# marked by Q...Q so that the test can look for it in the output without chance matches.
PIECE = st.text(alphabet="abcxyzABC019 ()'-_.é", min_size=1, max_size=6).map(lambda s: f"Q{s}Q")
SEGMENTS = st.lists(PIECE, min_size=1, max_size=4)


def _forms(above: list[str], name: str, home: str) -> dict[str, str]:
    """One path of this machine (folders `above`, then `name`) in each form a record may hold."""
    from urllib.parse import quote

    posix = "/" + "/".join(above + [name])
    return {
        "posix": posix,
        "home": "~/" + "/".join(above + [name]),
        "under_home": home + "/" + "/".join(above + [name]),
        "file_url": "file://" + quote(posix),
        "windows": "C:\\Users\\" + "\\".join(above + [name]),
        "windows_slashes": "D:/" + "/".join(above + [name]),
        "unc": "\\\\server\\share\\" + "\\".join(above + [name]),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(above=SEGMENTS, name=PIECE, inside=SEGMENTS, data=st.data())
def test_no_absolute_path_and_no_folder_above_the_published_one_survives(tmp_path, above, name, inside, data):
    assume(not any(a in x or x in a for a in above for x in [name, *inside, "Qpublished folderQ"]))
    home = os.path.expanduser("~")
    base = Path("/" + "/".join(above)) / "Qpublished folderQ"
    record = {form: value for form, value in _forms(above, name, home).items()}
    record["inside"] = str(base / "/".join(inside))
    record["command"] = "lm_eval --model hf --model_args " + shlex.quote(f"pretrained={record['posix']}") + \
        " --output_path " + shlex.quote(record["inside"])
    form = data.draw(st.sampled_from(sorted(set(record) - {"command"})))
    record["in_prose"] = f"saved to {record[form]!r} (see the log)"
    public = json.dumps(public_record(record, base))
    for secret in above:  # no folder above the published one, in any form
        assert secret not in public and json.dumps(secret)[1:-1] not in public, (secret, public)
    values = public_record(record, base)
    for key, value in values.items():
        assert not value.startswith(("/", "~", "file:", "\\\\")) and value[1:3] not in (":\\", ":/"), (key, value)
    assert values["inside"] == "/".join(inside)  # inside the published folder: relative to it
    assert values["posix"] == name and values["windows"] == name and values["unc"] == name
    assert home not in public or home == "/"


def test_the_forms_the_issue_names():
    base = Path("/home/alice/My Files/gen")
    cases = {
        "/home/alice/My Files/gen/data/x.parquet": "data/x.parquet",
        "/home/alice/My Files/run/student": "student",
        "/home/alice/(copy)/m": "m",
        "C:\\Users\\alice\\models\\m": "m",
        "file:///home/alice/My%20Files/m": "m",
        "\\\\fileserver\\alice\\m": "m",
    }
    for path, public in cases.items():
        assert public_text(path, base) == public
    assert public_text("output_dir: \"/home/alice/My Files/run/student\"", base) == "output_dir: \"student\""


def test_a_token_in_a_data_file_column_is_found(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("MY_SERVER_KEY", "sk-local0123456789abcdef")
    table = pa.table({"input": ["a question", "another"], "messages": [[{"role": "user", "content": "hi"}],
                                                                     [{"role": "user", "content": "key "
                                                                       "sk-local0123456789abcdef"}]]})
    pq.write_table(table, tmp_path / "rows.parquet", compression="snappy")
    assert find_tokens(tmp_path) == ("rows.parquet", "messages")
    (tmp_path / "rows.parquet").unlink()
    (tmp_path / "run.json").write_text("{}")
    assert find_tokens(tmp_path) is None


def test_a_token_planted_in_the_corpus_is_stopped_before_upload(tiny_bonito, tmp_path, hub_server, capsys):
    from bonito_hub.generate import GenerateConfig, generate
    from bonito_hub.testing.engines import ScriptedEngine

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(json.dumps({"text": f"The deploy notes say the token is {TOKEN} and must stay secret. "
                                          "The old wooden pier was destroyed in 1894."}) + "\n")
    out = tmp_path / "generated"
    result = generate(GenerateConfig(model=None, input=str(corpus), task_type="exqa", output=out, progress=False,
                                     n=4, filters=()), engine=ScriptedEngine())
    assert result.funnel["kept"] > 0
    capsys.readouterr()
    assert main(["push", "dataset", str(out), "--repo-id", "me/leak"]) == 2
    err = capsys.readouterr().err
    assert "column input holds a token or key of this machine" in err and "nothing was sent" in err
    assert TOKEN not in err and err.count("\n") == 1
    assert hub_server.repos == {}  # refused before the repo was even created
