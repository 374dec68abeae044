"""Docstring pieces that several public functions share, written once.

Functions that take the same arguments describe them the same way (the tidy ratings and
the dimension to pick, the bootstrap's replicates and randomness, a figure's title and
words). Such a description lives in one table of pieces; a docstring names a piece by a
line holding only ``{{name}}``, which :func:`shared_docs` replaces, at import, by the
piece indented as that line is. ``help()``, doctest and the documentation tools read the
filled-in docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

__all__ = ["shared_docs"]

_F = TypeVar("_F", bound=Callable[..., object])

#: A line that names a piece: only white space around ``{{name}}``.
_SLOT = re.compile(r"^( *)\{\{(\w+)\}\}$", re.MULTILINE)


def _filled(doc: str, pieces: Mapping[str, str]) -> str:
    def piece(slot: re.Match[str]) -> str:
        indent, name = slot.group(1), slot.group(2)
        if name not in pieces:
            raise KeyError(f"no docstring piece named {name!r}")
        return "\n".join(indent + line if line else line for line in pieces[name].splitlines())

    return _SLOT.sub(piece, doc)


def shared_docs(pieces: Mapping[str, str]) -> Callable[[_F], _F]:
    """A decorator filling the ``{{name}}`` lines of a function's docstring from ``pieces``.

    Each piece is written without indentation (a numpydoc parameter entry: its
    ``name : type`` line and the description indented by four spaces). A name without a
    piece raises KeyError when the module is imported, so a typo cannot reach a reader.

    Examples
    --------
    >>> @shared_docs({"x": "x : int\\n    The number."})
    ... def f(x: int) -> int:
    ...     '''Twice x.
    ...
    ...     Parameters
    ...     ----------
    ...     {{x}}
    ...     '''
    ...     return 2 * x
    >>> print(f.__doc__.splitlines()[4:6])
    ['    x : int', '        The number.']
    """

    def fill(function: _F) -> _F:
        if function.__doc__:
            function.__doc__ = _filled(function.__doc__, pieces)
        return function

    return fill
