"""Print a pip constraints file that pins every direct dependency of setup.cfg at its declared floor
(and those of the extras the suite tests).

    python .ci/floors.py > floors.txt && pip install -c floors.txt -e ".[dev]"

.ci/run installs the package this way and runs the generation and recipe tests, so a floor in
setup.cfg is a version that was installed and tested, not a guess.
"""

import configparser
import re
import sys
from pathlib import Path

config = configparser.ConfigParser()
config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
# The extras the dev extra installs and the suite tests (vllm needs a GPU: only its resolution is checked).
TESTED_EXTRAS = ("openai", "documents")
lines = config["options"]["install_requires"].strip().splitlines()
for extra in TESTED_EXTRAS:
    lines += config["options.extras_require"][extra].strip().splitlines()
pins = []
for line in lines:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*", line)
    if not match:
        sys.exit(f"setup.cfg: {line.strip()!r} has no plain >= floor to pin")
    pins.append(f"{match.group(1)}=={match.group(2)}")
print("\n".join(pins))
