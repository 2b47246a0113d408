"""Paired comparison of two methods run on the same episodes: discordant counts, exact McNemar.

Two methods that ran on identical (variation, env seed) pairs differ only on the episodes one
solved and the other did not; the exact McNemar test asks whether those split 50/50. Used by
`daml bench`'s report and by benchmarks/val_protocol.py. Pure Python: no numpy, torch or sim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def exact_mcnemar(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts (a binomial test at 1/2)."""
    only_first, only_second = int(only_first), int(only_second)  # numpy ints overflow 2**n
    if only_first < 0 or only_second < 0:
        raise ValueError(f"discordant counts must be >= 0, got {only_first}, {only_second}")
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_first, only_second) + 1)) / 2**n
    return min(1.0, 2 * tail)


def discordant_counts(first: Sequence[bool], second: Sequence[bool]) -> tuple[int, int]:
    """(episodes only `first` solved, episodes only `second` solved), paired by position."""
    pairs = [(bool(x), bool(y)) for x, y in zip(first, second, strict=True)]
    only_first = sum(x and not y for x, y in pairs)
    only_second = sum(y and not x for x, y in pairs)
    return only_first, only_second
