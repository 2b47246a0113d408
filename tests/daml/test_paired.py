"""daml.paired: discordant counts and the exact McNemar test used by `daml bench`'s report."""

from __future__ import annotations

import numpy as np
import pytest

from daml.paired import discordant_counts, exact_mcnemar


def test_exact_mcnemar_matches_the_binomial_test():
    # p-values quoted in docs/BENCHMARKS.md for earlier model picks
    assert exact_mcnemar(109, 154) == pytest.approx(0.0066, abs=5e-5)
    assert exact_mcnemar(77, 92) == pytest.approx(0.28, abs=5e-3)
    assert exact_mcnemar(61, 64) == pytest.approx(0.86, abs=5e-3)
    assert exact_mcnemar(0, 0) == 1.0
    assert exact_mcnemar(5, 5) == 1.0
    assert exact_mcnemar(0, 6) == pytest.approx(2 / 64)  # all six discordant one way
    assert exact_mcnemar(3, 9) == exact_mcnemar(9, 3)
    with pytest.raises(ValueError, match="discordant counts"):
        exact_mcnemar(-1, 3)


def test_discordant_counts_pair_by_position_and_refuse_unequal_lengths():
    first = [True, True, False, False, True]
    second = [True, False, True, False, False]
    assert discordant_counts(first, second) == (2, 1)
    assert exact_mcnemar(*discordant_counts(first, second)) == 1.0
    with pytest.raises(ValueError):
        discordant_counts(first, second[:-1])


def test_numpy_outcomes_and_counts_give_the_same_p_value():
    """np.int64 counts made 2**n overflow past 63 discordant episodes (p came out 1.0), and
    numpy bool outcomes gave np.int64 counts."""
    first = np.array([True] * 47 + [False] * 29 + [True] * 10)
    second = np.array([False] * 47 + [True] * 29 + [True] * 10)
    counts = discordant_counts(first, second)
    assert counts == (47, 29) and all(type(c) is int for c in counts)
    assert exact_mcnemar(np.int64(47), np.int64(29)) == pytest.approx(0.0505, abs=1e-4)
    assert exact_mcnemar(*counts) == exact_mcnemar(47, 29)
