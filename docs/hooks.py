"""mkdocs hooks.

- Before the build, the benchmark charts and the dashboard preview are drawn from the
  generated report (benchmarks/charts.py), so the site never shows a stale figure.
- Links from a page to files of the repository outside docs/ (README, examples) become
  links to the repository; a link to a file that does not exist fails the strict build.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.genguard")
_CHARTS = Path(__file__).resolve().parent.parent / "benchmarks" / "charts.py"


def on_pre_build(config: Any) -> None:
    spec = importlib.util.spec_from_file_location("genguard_bench_charts", _CHARTS)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {_CHARTS}")
    charts = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = charts
    spec.loader.exec_module(charts)
    charts.write_pages(Path(config["docs_dir"]))
_LINK = re.compile(r"\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    repo_url = str(config.get("repo_url") or "").rstrip("/")
    page_dir = (docs / page.file.src_path).parent

    def rewrite(match: re.Match[str]) -> str:
        target = (page_dir / match.group(1)).resolve()
        anchor = match.group(2) or ""
        try:
            relative = target.relative_to(docs.parent)
        except ValueError:
            log.warning("%s links outside the repository: %s", page.file.src_path, match.group(1))
            return match.group(0)
        if not target.exists():
            log.warning("%s links to a missing file: %s", page.file.src_path, relative)
            return match.group(0)
        kind = "tree" if target.is_dir() else "blob"
        return f"]({repo_url}/{kind}/main/{relative.as_posix()}{anchor})"

    return _LINK.sub(rewrite, markdown)
