"""The package surface: a sorted public API, and a core import that needs no extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import hyperrace as hr

HEAVY = [
    "torch",
    "sklearn",
    "pandas",
    "rich",
    "psycopg",
    "optuna",
    "alembic",
    "botorch",
    "gpytorch",
    "onnxruntime",
    "matplotlib",
    "fastapi",
    "plotly",
    "lightning",
    "ray",
]


def _isort_order(names: list[str]) -> list[str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then CamelCase, then the rest, each sorted."""

    def key(name: str) -> tuple[int, str]:
        bare = name.strip("_")
        group = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
        return group, name

    return sorted(names, key=key)


def test_public_api_is_sorted_and_complete() -> None:
    assert hr.__all__ == _isort_order(hr.__all__)
    for name in hr.__all__:
        assert hasattr(hr, name), name
    assert not [n for n in hr.__all__ if n.startswith("_") and n != "__version__"]
    public = {n for n in dir(hr) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(hr, n)).__name__ == "module"}
    assert public - modules <= set(hr.__all__), public - modules - set(hr.__all__)


def test_subpackages_have_sorted_all() -> None:
    import importlib

    for mod in ("space", "trial", "storage", "optimizers", "executors", "study"):
        m = importlib.import_module(f"hyperrace.{mod}")
        assert list(m.__all__) == _isort_order(list(m.__all__)), mod
        for name in m.__all__:
            assert hasattr(m, name), f"hyperrace.{mod}.{name}"


_BLOCKED = """
import sys
BLOCK = {blocked!r}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError(f"blocked {{name}}")
        return None
sys.meta_path.insert(0, Blocker())
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_core_import_and_a_study_need_no_extra() -> None:
    code = _BLOCKED.format(blocked=HEAVY) + textwrap.dedent(
        """
        import hyperrace as hr
        loaded = sorted(m for m in {heavy!r} if m in sys.modules)
        assert not loaded, loaded
        space = hr.Space(x=hr.Float(0.0, 1.0), epochs=hr.Fidelity(1, 3))
        study = hr.Study("s", space, storage="memory://", seed=0)
        study.optimize(lambda t: t.config["x"], budget=hr.Budget(trials=3), progress=False)
        assert len(study.trials) == 3 and study.optimizer.name == "asha"
        flat = hr.Study("f", hr.Space(x=hr.Float(0.0, 1.0)), storage="memory://", seed=0)
        assert flat.optimizer.name == "tpe", flat.optimizer.name  # BoTorch is not there
        flat.optimize(lambda t: t.config["x"], budget=hr.Budget(trials=12), progress=False)
        assert len(flat.trials) == 12
        try:
            study.to_dataframe()
        except hr.MissingDependencyError as exc:
            print(exc)
        """
    ).format(heavy=HEAVY)
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'hyperrace[dataframe]'" in result.stdout


def test_sqlite_storage_needs_no_alembic_once_created(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    hr.Study(
        "s", hr.Space(x=hr.Float(0.0, 1.0)), storage=url, optimizer="random"
    )  # creates the schema
    code = _BLOCKED.format(blocked=["alembic"]) + textwrap.dedent(
        f"""
        import hyperrace as hr
        study = hr.Study("s", storage={url!r})
        study.optimize(lambda t: t.config["x"], budget=hr.Budget(trials=2), progress=False)
        print(len(study.trials))
        """
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_the_wheel_carries_the_package_data(tmp_path: Path) -> None:
    """``pip install`` gets the LCBench surrogate data (with its licence), the migrations, the
    in-context surrogate's weights and the dashboard's files: a wheel built from a copy of the
    source holds them."""
    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    shutil.copytree(root / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*pip, "--no-index", "-q", "-w", str(tmp_path / "wheel"), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "wheel").glob("hyperrace-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "hyperrace/benchmarks/data/yahpo/"
    for name in (
        "LICENSE",
        "README.md",
        "VERSION",
        "lcbench_reference_curves.json",
        "lcbench/model.onnx",
        "lcbench/encoding.json",
        "lcbench/LICENSE-2.0.txt",
    ):
        assert data + name in names, name
    assert "hyperrace/storage/migrations/versions/0001_initial.py" in names
    assert "hyperrace/optimizers/_parts/surrogate/weights/pfn.pt" in names
    assert "hyperrace/dashboard/static/app.js" in names
