"""argparse value types shared by ``hub-service`` and ``hub-service-mock``: numbers in a range.

One parser per rule, so both commands word a bad value the same way: ``not an integer: 'x'``,
``must be > 0, got '0'``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

_N = TypeVar("_N", int, float)


def number(
    kind: Callable[[str], _N], rule: str, accept: Callable[[_N], bool]
) -> Callable[[str], _N]:
    """A parser of ``kind`` (``int`` or ``float``) values for which ``accept`` is true;
    ``rule`` says which those are (``"> 0"``, ``"a 5xx code (500-599)"``)."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str) -> _N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return parse


positive_float = number(float, "> 0", lambda value: value > 0)
"""Seconds and the like: a number above zero."""
non_negative_int = number(int, ">= 0", lambda value: value >= 0)
"""Counts: an integer, zero or more."""
