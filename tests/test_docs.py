"""The documentation site builds, strictly, with an API reference from the docstrings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_and_its_api_reference_build_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocstrings", reason="the docs extra (scripts/setup installs it)")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    study = (site / "api" / "hyperrace" / "index.html").read_text(encoding="utf-8")
    for name in ("hyperrace.Study", "enqueue", "to_dataframe", "best_value", "set_user_attr"):
        assert name in study, name
    optimizers = (site / "api" / "optimizers" / "index.html").read_text(encoding="utf-8")
    assert "hyperrace.optimizers.ASHA" in optimizers and "Parameters:" in optimizers
    assert (site / "cli" / "index.html").is_file()
