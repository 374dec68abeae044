"""Argument checks shared by the analysis modules (one message per mistake, naming it)."""

from __future__ import annotations

import numpy as np


def make_generator(value: object, name: str) -> np.random.Generator:
    """A numpy Generator from a Generator, an int seed or None; ``name`` is the parameter."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None or (isinstance(value, int | np.integer) and not isinstance(value, bool)):
        return np.random.default_rng(value)
    raise ValueError(f"{name} must be a numpy.random.Generator, an int seed or None, not {value!r}")


def check_bootstrap(n_bootstrap: object) -> int:
    """The number of bootstrap replicates as an int >= 0."""
    if (
        isinstance(n_bootstrap, bool)
        or not isinstance(n_bootstrap, int | np.integer)
        or n_bootstrap < 0
    ):
        raise ValueError(f"n_bootstrap must be a non-negative int, not {n_bootstrap!r}")
    return int(n_bootstrap)
