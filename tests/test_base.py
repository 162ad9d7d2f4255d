"""skood.base: the offset shared by every detector."""

import numpy as np
import pytest

from skood.base import offset_from_scores


def test_offset_never_sits_on_a_calibration_score():
    # Tied scores at the quantile: the threshold moves halfway to the next lower score,
    # so those rows' labels do not hang on round-off.
    scores = np.array([0.1, 0.2, 0.3, 0.3, 0.3, 0.9, 1.0, 1.0, 1.0, 1.0])
    t = offset_from_scores(scores, 0.3)
    assert t == pytest.approx(0.25)
    assert (scores < t).sum() == 2
    # Off-sample quantiles are the plain linear-interpolation quantile.
    assert offset_from_scores(scores, 0.15) == pytest.approx(np.percentile(scores, 15))
    # Nothing lower: just below the tie; non-finite scores are ignored.
    assert offset_from_scores([1.0, 1.0, np.nan, 2.0], 0.1) < 1.0
    with pytest.raises(ValueError, match="No finite calibration score"):
        offset_from_scores([np.nan, np.inf], 0.1)
