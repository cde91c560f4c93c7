"""Shared pytest set-up: hypothesis profiles and the `gpu` marker's skip."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Profiles: `ci` (CI=true) prints reproduction blobs; `nightly` explores longer. Select with
# HYPOTHESIS_PROFILE=...; per-test @settings(max_examples=...) keep the default run short.
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("dev"), print_blob=True)
settings.register_profile("nightly", parent=settings.get_profile("dev"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (marker gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
