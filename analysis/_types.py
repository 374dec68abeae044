"""Array types used across the analysis package (numpy's own generic, made concrete)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray", "FloatArray", "IntArray", "LabelArray"]

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
#: Labels (raters, items, dimensions) as numpy holds them (sorted_codes gives these).
LabelArray: TypeAlias = npt.NDArray[np.object_]
