"""Finding 15: the docs gate must fail on any warning.

``scripts/test`` ran ``mkdocs build --strict --quiet``: ``--quiet`` keeps warnings from being
logged, so strict mode never counts them and the gate exited 0 over a build with warnings.
``scripts/docs-gate`` builds at the normal log level and fails on any WARNING or ERROR line.
Each case builds a tiny throwaway mkdocs project (built-in theme, one or two pages), so the
test takes seconds, not the repository's full build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "scripts" / "docs-gate"
BROKEN_LINK = "[a page that does not exist](nowhere.md)"


def _project(tmp_path: Path, page: str) -> Path:
    """A minimal mkdocs project whose one page reads ``page``; returns its config file."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(f"# Home\n\n{page}\n", encoding="utf-8")
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: planted\ntheme:\n  name: mkdocs\n", encoding="utf-8")
    return config


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # mkdocs comes from this interpreter's environment, as `uv run` would provide it.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_old_gate_passed_a_build_with_a_warning(tmp_path: Path) -> None:
    """The attack: ``--strict --quiet`` exits 0 although the page has a broken link."""
    config = _project(tmp_path, BROKEN_LINK)
    loud = _run("mkdocs", "build", "--strict", "-f", config, cwd=tmp_path)
    quiet = _run("mkdocs", "build", "--strict", "--quiet", "-f", config, cwd=tmp_path)
    assert loud.returncode == 1
    assert "nowhere.md" in loud.stderr
    assert quiet.returncode == 0  # why the gate could not fail
    assert "WARNING" not in quiet.stdout + quiet.stderr


def test_the_gate_fails_on_a_planted_warning_and_names_it(tmp_path: Path) -> None:
    config = _project(tmp_path, BROKEN_LINK)
    result = _run(GATE, "-f", config, cwd=tmp_path)
    assert result.returncode == 1
    assert "WARNING" in result.stderr
    assert "nowhere.md" in result.stderr
    assert "docs gate: FAILED" in result.stderr


def test_the_gate_fails_on_a_warning_strict_mode_does_not_count(tmp_path: Path) -> None:
    """A warning line fails the gate even where mkdocs itself would exit 0."""
    config = _project(tmp_path, "A clean page.")
    hook = tmp_path / "hook.py"
    hook.write_text(
        "def on_post_build(config, **kwargs):\n"
        "    print('WARNING -  planted: a warning outside the strict counter')\n",
        encoding="utf-8",
    )
    with config.open("a", encoding="utf-8") as handle:
        handle.write("hooks:\n  - hook.py\n")
    assert _run("mkdocs", "build", "--strict", "-f", config, cwd=tmp_path).returncode == 0
    result = _run(GATE, "-f", config, cwd=tmp_path)
    assert result.returncode == 1
    assert "planted: a warning outside the strict counter" in result.stderr


def test_the_gate_passes_a_clean_build_silently(tmp_path: Path) -> None:
    config = _project(tmp_path, "A clean page.")
    result = _run(GATE, "-f", config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""
    assert (tmp_path / "site" / "index.html").is_file()


def test_the_full_suite_runs_the_gate_not_a_bare_build() -> None:
    steps = (ROOT / "scripts" / "test").read_text(encoding="utf-8").splitlines()
    assert any(step.startswith("step scripts/docs-gate") for step in steps)
    assert not any("mkdocs build" in step for step in steps)
