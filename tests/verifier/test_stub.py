"""The .pyi stub beside the compiled extension matches it (mypy.stubtest), so editors and type
checkers see the real API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_stub_matches_the_compiled_module(tmp_path):
    pytest.importorskip("mypy")
    res = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "prl_verifier._prl_verifier",
         "--mypy-config-file", str(ROOT / "rust_verifier" / "pyproject.toml")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
