"""The project installs as queuetop.engine / queuetop.tui, from a wheel and editable.

Each test installs the checkout into a new, empty virtual environment with
pip (no network: no dependencies, no build isolation) and lets it see the
test environment's packages through a .pth file, then imports it from a
directory outside the checkout.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _venv(path: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return python, Path(purelib)


def _install(python: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", *args],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def _see_test_env(purelib: Path) -> None:
    """Let the new venv import this one's dependencies, but not its queuetop.

    Every top-level entry of this environment's site-packages except
    queuetop's own is linked into one folder that a .pth file names.
    """
    deps = purelib.parent / "test-env-deps"
    deps.mkdir()
    for folder in dict.fromkeys([sysconfig.get_paths()["purelib"], *site.getsitepackages()]):
        for entry in Path(folder).iterdir():
            name = entry.name.lower()
            if name.startswith(("queuetop", "__editable__", "_queuetop")) or entry.suffix == ".pth":
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (purelib / "test_env_deps.pth").write_text(f"{deps}\n")


PROBE = (
    "import importlib.util, queuetop.engine.store.sqlite.backend as db, queuetop.tui;"
    "assert 'CREATE TABLE jobs' in db.schema_sql();"
    "assert importlib.util.find_spec('engine') is None, 'a top-level engine module is importable';"
    "assert importlib.util.find_spec('tui') is None, 'a top-level tui module is importable';"
    "print(db.__file__)"
)


@pytest.mark.slow
def test_wheel_install_ships_schema_and_no_top_level_packages(tmp_path: Path) -> None:
    python, purelib = _venv(tmp_path / "venv")
    _see_test_env(purelib)  # pip runs the build backend with the new venv's python
    _install(python, str(REPO))
    assert not (purelib / "engine").exists()
    assert not (purelib / "tui").exists()
    schema = purelib / "queuetop" / "engine" / "store" / "sqlite" / "schema.sql"
    assert schema.is_file() and not schema.is_symlink()
    assert schema.read_text() == (REPO / "schema.sql").read_text()
    out = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(purelib)


@pytest.mark.slow
def test_editable_install_reads_the_repository(tmp_path: Path) -> None:
    python, purelib = _venv(tmp_path / "venv")
    _see_test_env(purelib)
    _install(python, "-e", str(REPO))
    assert not (purelib / "engine").exists()
    assert not (purelib / "tui").exists()
    out = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == REPO / "engine" / "store" / "sqlite" / "backend.py"
