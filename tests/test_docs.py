"""The documentation: the Sphinx site in docs/ builds without a warning, and the README stays a
front door whose relative links all lead somewhere.

The site is built from a copy of docs/ (without earlier build products), so a stale generated API
page cannot hide or cause a problem, and the build writes nothing into the checkout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
README_MAX_LINES = 250
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(markdown: str) -> list[str]:
    """Targets of the Markdown links and images that point into the repository (no scheme, no
    bare anchor), without their #fragment; links inside fenced code blocks are not links."""
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_relative_links_skip_urls_anchors_and_code() -> None:
    text = "[a](docs/x.md#y) ![b](docs/f.png) [c](https://e.org) [d](#top)\n```\n[e](nowhere.md)\n```\n"
    assert relative_links(text) == ["docs/x.md", "docs/f.png"]


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "api"))
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(source), str(tmp_path / "html")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    problems = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not problems, "sphinx-build -W failed:\n" + "\n".join(problems or [result.stderr[-4000:]])
    assert (tmp_path / "html" / "index.html").is_file()


def test_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move reference material into docs/"


def test_readme_relative_links_exist() -> None:
    targets = relative_links(README.read_text(encoding="utf-8"))
    assert targets, "README.md links nowhere"
    missing = sorted({target for target in targets if not (REPO / target).exists()})
    assert not missing, f"README.md links to files that do not exist: {missing}"
