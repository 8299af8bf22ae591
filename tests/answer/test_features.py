"""The features of a candidate sentence, the trees' input."""

from __future__ import annotations

import itertools

from qa.answer.features import weighted_share


def test_a_weighted_share_does_not_depend_on_the_order_of_the_terms():
    """The question's terms come in its set's order, which follows the process's hash seed; the
    share must come out the same to the last bit in any order (a plain sum does not: 0.1, 0.2 and
    0.3 in another order differ in the last bit)."""
    weights = {"tea": 0.1, "kettle": 0.2, "steam": 0.3, "green": 0.7, "leaf": 3.4231762883809305}
    found = {"tea", "kettle", "steam", "leaf"}
    shares = {weighted_share(dict(order), found) for order in itertools.permutations(weights.items())}
    assert len(shares) == 1
    assert abs(shares.pop() - (0.1 + 0.2 + 0.3 + 3.4231762883809305) / 4.7231762883809305) < 1e-12
    # a candidate with other terms of the same weights has the same share, exactly: coverage_gap 0
    assert weighted_share({"a": 0.1, "b": 0.2, "c": 0.3}, {"a", "b"}) == \
        weighted_share({"c": 0.3, "b": 0.2, "a": 0.1}, {"b", "a"})
    assert weighted_share({}, {"tea"}) == 0.0
