"""score_batch works through large matrices in chunks; rows across chunk edges score as alone."""

import numpy as np
import pytest

import scoring
from scoring.scorer import CHUNK_ROWS


def test_rows_on_both_sides_of_chunk_edges_score_as_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    rows = 2 * CHUNK_ROWS + 17
    matrix = rng.integers(0, 3, (rows, 25)).astype(float)
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    batch = scoring.score_batch("SDQ", "parent", matrix)
    assert batch["total"].shape == (rows,)
    for row in (0, CHUNK_ROWS - 1, CHUNK_ROWS, 2 * CHUNK_ROWS, rows - 1):
        items = {str(i + 1): (None if np.isnan(v) else int(v)) for i, v in enumerate(matrix[row])}
        alone = scoring.score("SDQ", "parent", items)
        for scale, value in alone.scales.items():
            expected = np.nan if value is None else value
            np.testing.assert_equal(batch[scale][row], expected)


def test_an_invalid_response_in_a_later_chunk_is_still_rejected() -> None:
    matrix = np.zeros((CHUNK_ROWS + 5, 25))
    matrix[CHUNK_ROWS + 3, 6] = 3  # item 7 allows 0-2
    with pytest.raises(scoring.InvalidResponse) as caught:
        scoring.score_batch("SDQ", "parent", matrix)
    assert caught.value.item == "7"
    assert caught.value.error_code == "schema.out_of_range"
