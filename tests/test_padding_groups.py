"""Length-grouped batches: a partition of the rows, bounded in size and in padding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st

from shopsearch.models.base import padding_groups


@given(st.lists(st.integers(1, 600), max_size=200), st.integers(1, 64), st.floats(0, 2))
def test_padding_groups_partition_rows_within_size_and_waste(lengths, max_batch, waste):
    lengths = np.array(lengths, dtype=np.int64)
    groups = padding_groups(lengths, max_batch, waste)
    rows = np.concatenate(groups) if groups else np.array([], dtype=np.int64)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    for group in groups:
        assert 1 <= len(group) <= max_batch
        padded = len(group) * lengths[group].max()
        assert len(group) == 1 or padded <= lengths[group].sum() * (1 + waste) + 1e-9


def test_equal_lengths_fill_whole_batches_and_outliers_run_apart():
    groups = padding_groups(np.array([10] * 10 + [500]), 4)
    assert [len(g) for g in groups] == [4, 4, 2, 1] and groups[-1].tolist() == [10]
