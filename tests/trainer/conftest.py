"""Fixtures for the trainer tests."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def write_jsonl(tmp_path):
    def w(rows, name="data.jsonl"):
        p = tmp_path / name
        with open(p, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        return p

    return w
