"""The documentation site builds, works offline and references no external script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)
SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']?([^\"' >]+)", re.I)
STYLESHEET = re.compile(r"<link\b[^>]*\brel=[\"']?stylesheet[^>]*>", re.I)
HREF = re.compile(r"\bhref=[\"']?([^\"' >]+)", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "JUPYTER_PLATFORM_DIRS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_no_page_loads_a_script_or_stylesheet_from_elsewhere(site: Path) -> None:
    pages = list(site.rglob("*.html"))
    assert len(pages) > 10
    external = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        sources = SCRIPT.findall(text)
        sources += [h for link in STYLESHEET.findall(text) for h in HREF.findall(link)]
        external += [f"{page.relative_to(site)}: {s}" for s in sources if EXTERNAL.match(s)]
    assert external == []


def test_mermaid_ships_with_the_site(site: Path) -> None:
    page = (site / "qondor" / "index.html").read_text(encoding="utf-8")
    assert 'class="mermaid"' in page
    assert "assets/javascripts/mermaid.min.js" in SCRIPT.findall(page)[-1]
    script = site / "assets" / "javascripts" / "mermaid.min.js"
    assert script.stat().st_size > 1_000_000
    assert (
        script.read_text(encoding="utf-8")
        .rstrip()
        .endswith('globalThis["mermaid"] = globalThis.__esbuild_esm_mermaid_nm["mermaid"].default;')
    )


def test_home_page_has_the_quick_start(site: Path) -> None:
    page = re.sub(r"<[^>]+>", "", (site / "index.html").read_text(encoding="utf-8"))
    assert "qondor-invoicing demo" in page
    assert "anyio" in page
    assert "SqliteJournal" in page
    assert "--8&lt;--" not in page


def test_the_notebook_is_a_page_with_its_outputs(site: Path) -> None:
    page = (site / "notebooks" / "explore" / "index.html").read_text(encoding="utf-8")
    assert "Exploring qondor-invoicing on the fakes" in page
    assert page.count('class="notebook-output"') >= 5
    assert "<table>" in page  # a model or plan rendered as the notebook shows it
    assert (site / "notebooks" / "explore.ipynb").exists()
