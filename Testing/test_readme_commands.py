"""The README's two set-up commands exist, and `.ci/run` runs exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_demo_and_test_commands():
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    setup = [b for b in blocks if b.startswith("python3.11 -m venv")]
    assert len(setup) == 2, "README must have exactly two set-up commands"
    demo, tests = setup
    assert demo.endswith("hccai demo")
    assert "pytest" in tests and "ruff check" in tests


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    test_command = next(b for b in blocks if b.startswith("python3.11 -m venv") and "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
