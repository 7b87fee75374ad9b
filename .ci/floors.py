"""Print a pip constraints file that pins every direct dependency of pyproject.toml at its declared
floor (and those of the extras the suite tests).

    python .ci/floors.py > floors.txt && pip install -c floors.txt -e ".[dev]"

.ci/run installs the package this way and runs the whole suite, so a floor in pyproject.toml is a
version that was installed and tested, not a guess.
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
# The extras the dev extra installs and the suite tests (vllm needs a GPU: only its resolution is checked).
TESTED_EXTRAS = ("openai", "documents", "ocr")
lines = list(project["dependencies"])
for extra in TESTED_EXTRAS:
    lines += project["optional-dependencies"][extra]
pins = []
for line in lines:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*", line)
    if not match:
        sys.exit(f"pyproject.toml: {line.strip()!r} has no plain >= floor to pin")
    pins.append(f"{match.group(1)}=={match.group(2)}")
print("\n".join(pins))
