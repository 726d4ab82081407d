"""Ranking metrics against values computed by hand (definitions in cxml.evaluation.ranking)."""

import math

import numpy as np
import pandas as pd
import pytest

from cxml.evaluation.ranking import bootstrap_ranking_ci, ranking_metrics, ranking_per_customer, top_k

pytestmark = pytest.mark.unit

ITEMS = list("ABCDE")


@pytest.fixture
def case():
    """c1 owns A and wants B, D; c2 owns E and wants A; c3 wants only what it owns (so it does not count)."""
    index = ["c1", "c2", "c3"]
    scores = pd.DataFrame(
        [[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1]], index, ITEMS
    )
    relevance = pd.DataFrame([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]], index, ITEMS)
    owned = pd.DataFrame([[1, 0, 0, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]], index, ITEMS).astype(bool)
    return scores, relevance, owned


def test_per_customer_values_at_3_match_the_hand_computation(case):
    per = ranking_per_customer(*case, k=3)
    assert list(per.index) == ["c1", "c2"]
    c1 = per.loc["c1"]  # ranking B, C, D (A owned): hits at ranks 1 and 3, R = 2
    assert c1["precision"] == pytest.approx(2 / 3)
    assert c1["recall"] == pytest.approx(1.0)
    assert c1["success"] == 1.0
    assert c1["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert c1["ndcg"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    c2 = per.loc["c2"]  # ranking D, C, B (E owned): A is ranked 4th, a miss at K = 3
    assert (c2[["precision", "recall", "success", "ap", "ndcg"]] == 0).all()


def test_means_over_counted_customers(case):
    m = ranking_metrics(*case, k=3)
    assert m["n_customers"] == 2
    assert m["map_at_3"] == pytest.approx((1 + 2 / 3) / 4)
    assert m["success_at_3"] == pytest.approx(0.5)
    assert m["precision_at_3"] == pytest.approx(1 / 3)
    assert m["recall_at_3"] == pytest.approx(0.5)


def test_several_cut_offs_and_k_of_one(case):
    m = ranking_metrics(*case, k=(1, 4))
    assert m["precision_at_1"] == pytest.approx(0.5)  # c1's first pick B is relevant, c2's D is not
    assert m["success_at_4"] == pytest.approx(1.0)  # c2's A arrives at rank 4
    assert m["map_at_4"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 4) / 2)


def test_owned_items_are_never_ranked_even_with_the_top_score(case):
    scores, _, owned = case
    top = top_k(scores.to_numpy(), 2, owned.to_numpy())
    assert list(np.asarray(ITEMS)[top[0]]) == ["B", "C"]
    assert list(np.asarray(ITEMS)[top[1]]) == ["D", "C"]


def test_relevant_but_owned_items_do_not_count():
    scores = pd.DataFrame([[0.9, 0.1]], ["c"], ["A", "B"])
    relevance = pd.DataFrame([[1, 1]], ["c"], ["A", "B"])
    owned = pd.DataFrame([[True, False]], ["c"], ["A", "B"])
    per = ranking_per_customer(scores, relevance, owned, k=1)
    assert per.loc["c", "n_relevant"] == 1
    assert per.loc["c", "precision"] == 1.0  # A is masked, B moves to rank 1


def test_ties_break_by_column_order_and_nan_ranks_last():
    scores = np.array([[0.5, np.nan, 0.5, 0.5]])
    assert list(top_k(scores, 4)[0]) == [0, 2, 3, 1]


def test_fewer_candidates_than_k_count_the_empty_slots_as_misses():
    scores = pd.DataFrame([[0.3, 0.2, 0.1]], ["c"], list("ABC"))
    relevance = pd.DataFrame([[0, 1, 0]], ["c"], list("ABC"))
    owned = pd.DataFrame([[True, False, True]], ["c"], list("ABC"))
    per = ranking_per_customer(scores, relevance, owned, k=5)
    assert per.loc["c", "precision"] == pytest.approx(1 / 5)
    assert per.loc["c", "ap"] == pytest.approx(1.0)


def test_frames_are_aligned_by_labels_not_position(case):
    scores, relevance, owned = case
    shuffled = relevance.loc[["c3", "c1", "c2"], ["E", "D", "C", "B", "A"]]
    assert ranking_metrics(scores, shuffled, owned, k=3) == ranking_metrics(scores, relevance, owned, k=3)


def test_a_better_ranking_scores_higher_and_a_perfect_one_scores_one():
    rng = np.random.default_rng(0)
    relevance = (rng.random((200, 30)) < 0.1).astype(int)
    perfect = ranking_metrics(relevance + 0.0, relevance, k=3)
    noisy = ranking_metrics(relevance + rng.normal(0, 0.8, relevance.shape), relevance, k=3)
    random = ranking_metrics(rng.random(relevance.shape), relevance, k=3)
    assert perfect["map_at_3"] == pytest.approx(1.0) and perfect["ndcg_at_3"] == pytest.approx(1.0)
    assert perfect["map_at_3"] > noisy["map_at_3"] > random["map_at_3"]


def test_mismatched_shapes_and_bad_k_raise():
    with pytest.raises(ValueError, match="one 2-D shape"):
        ranking_metrics(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="k must be"):
        ranking_per_customer(np.zeros((2, 3)), np.ones((2, 3)), k=0)


def test_bootstrap_interval_brackets_the_mean(case):
    per = ranking_per_customer(*case, k=3)
    per = pd.concat([per] * 20)
    lo, hi = bootstrap_ranking_ci(per, "ap", n_boot=300)
    assert lo < per["ap"].mean() < hi
