"""MkDocs hook: every ``docs/**/*.ipynb`` becomes a page, executed at build time.

The notebook runs on the library's offline fakes, so executing it needs no network; its
outputs (HTML tables of models, plans and reports) are shown as the notebook shows them.
Without ``nbclient`` (the docs extra), the page shows the code without outputs.
"""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.notebooks")


def _execute(path: Path) -> dict[str, Any]:
    notebook: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    try:
        import nbclient
        import nbformat
    except ImportError:
        log.info("nbclient is not installed: %s is shown without outputs", path.name)
        return notebook
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    nb = nbformat.reads(json.dumps(notebook), as_version=4)
    with tempfile.TemporaryDirectory() as cwd:
        client = nbclient.NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": cwd}}
        )
        client.execute()
    return json.loads(nbformat.writes(nb))


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _output(output: dict[str, Any]) -> str:
    data = output.get("data", {})
    if "text/html" in data:
        return f'<div class="notebook-output">{_text(data["text/html"])}</div>\n'
    text = _text(data.get("text/plain", "")) or _text(output.get("text", ""))
    if output.get("output_type") == "error":
        text = "\n".join(output.get("traceback", []))
    if not text:
        return ""
    return f'<pre class="notebook-output">{html.escape(text.rstrip())}</pre>\n'


def render(path: Path) -> str:
    """The notebook as a Markdown page: Markdown cells as they are, code and outputs."""
    notebook = _execute(path)
    parts = [
        f"<!-- generated from {path.name} at build time; edit the notebook, not this page -->\n"
    ]
    for cell in notebook.get("cells", []):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            parts.append(source + "\n")
        elif cell.get("cell_type") == "code":
            parts.append(f"```python\n{source}\n```\n")
            parts.extend(_output(o) for o in cell.get("outputs", []))
    parts.append(f"\n[Download the notebook]({path.name})\n")
    return "\n".join(parts)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add a generated page next to every notebook (the notebook itself stays downloadable)."""
    docs = Path(config.docs_dir)
    for file in list(files):
        if file.src_uri.endswith(".ipynb"):
            page = file.src_uri[: -len(".ipynb")] + ".md"
            content = render(docs / file.src_uri)
            files.append(File.generated(config, page, content=content))
    return files
