"""Partial pooling of the elasticity terms (empirical-Bayes shrinkage): noisy levels move to the pooled value,
precise ones stay, tau² = 0 pools fully, intervals come from the posterior, and the ANOVA blocks ignore coding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.models.dml import ElasticityDML, LinearDesign
from cxml.models.price_pooling import design_blocks, maximum_likelihood, method_of_moments, partial_pool

pytestmark = pytest.mark.unit


def one_factor(estimates: list[float], se: list[float]) -> tuple[LinearDesign, np.ndarray, np.ndarray]:
    """Reference-coded coefficients (intercept = level a) whose level estimates are ``estimates``, independent with
    standard errors ``se``: the covariance of the level means maps through the coding."""
    levels = [chr(ord("a") + i) for i in range(len(estimates))]
    design = LinearDesign().fit(pd.DataFrame({"g": levels}))
    G = design.transform(pd.DataFrame({"g": levels}))  # level means = G @ beta
    inv = np.linalg.inv(G)
    return design, inv @ np.asarray(estimates), inv @ np.diag(np.square(se)) @ inv.T


def level_means(design: LinearDesign, coef: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    G = design.transform(pd.DataFrame({"g": design.levels_["g"]}))
    return G @ coef, np.sqrt(np.diag(G @ cov @ G.T))


def test_a_noisy_level_moves_to_the_pooled_value_and_a_precise_one_stays():
    est = [-1.0, -1.4, -0.6, -1.2, -6.0]
    design, coef, cov = one_factor(est, [0.1, 0.1, 0.1, 0.1, 3.0])
    pooled = partial_pool(coef, cov, design_blocks(design))
    got, se = level_means(design, pooled.coef, pooled.cov)
    precise_mean = np.mean(est[:4])
    assert 0 < pooled.tau2["g"] < 0.2  # the precise levels spread by about 0.3
    assert abs(got[4] - precise_mean) < 0.25 < abs(est[4] - precise_mean)  # −6 ± 3 joins the others
    moved = np.abs(got[:4] - est[:4]) / np.abs(np.asarray(est[:4]) - precise_mean)
    assert np.all(moved < 0.15)  # ±0.1 levels keep (nearly) their own values: B = tau²/(tau² + 0.01) > 0.85
    assert se[4] < 0.5 < 3.0  # the posterior of the noisy level is the population's, not its own
    assert np.all(se[:4] <= 0.1 + 1e-12)


def test_tau2_zero_pools_fully_and_a_large_tau2_changes_nothing():
    est, sd = [-1.0, -2.0, -0.5, -3.0], [0.2, 0.3, 0.4, 0.5]
    design, coef, cov = one_factor(est, sd)
    blocks = design_blocks(design)
    full = partial_pool(coef, cov, blocks, tau2={"g": 0.0})
    got, se = level_means(design, full.coef, full.cov)
    precision = 1 / np.square(sd)
    np.testing.assert_allclose(got, np.sum(precision * est) / precision.sum())  # the precision-weighted mean
    np.testing.assert_allclose(se, 1 / np.sqrt(precision.sum()))
    none = partial_pool(coef, cov, blocks, tau2={"g": 1e9})
    np.testing.assert_allclose(level_means(design, none.coef, none.cov)[0], est, atol=1e-6)


def test_posterior_matches_the_textbook_random_effects_formula():
    """Independent levels, known tau²: each level is ``mu + B (x − mu)`` with ``B = tau²/(tau² + se²)``, ``mu`` the
    precision-weighted mean under the prior, and its variance ``B se²`` plus the share of the mean's uncertainty."""
    est, sd, tau2 = np.array([-1.0, -2.0, -0.5, -3.0]), np.array([0.2, 0.3, 0.4, 0.5]), 0.5
    design, coef, cov = one_factor(list(est), list(sd))
    got, se = level_means(design, *_coef_cov(partial_pool(coef, cov, design_blocks(design), tau2={"g": tau2})))
    v = tau2 + sd**2
    mu = np.sum(est / v) / np.sum(1 / v)
    B = tau2 / v
    np.testing.assert_allclose(got, mu + B * (est - mu), atol=1e-6)
    np.testing.assert_allclose(se**2, B * sd**2 + (1 - B) ** 2 / np.sum(1 / v), atol=1e-6)


def _coef_cov(pooled) -> tuple[np.ndarray, np.ndarray]:
    return pooled.coef, pooled.cov


def test_tau2_estimates_see_the_spread_beyond_the_noise():
    rng = np.random.default_rng(0)
    truth = rng.normal(-1.5, 0.6, 40)  # tau² 0.36
    sd = np.where(np.arange(40) % 2 == 0, 0.1, 1.0)
    design, coef, cov = one_factor(list(truth + rng.normal(0, sd)), list(sd))
    (block,) = design_blocks(design)
    assert 0.2 < maximum_likelihood(coef, cov, block) < 0.55
    assert 0.1 < method_of_moments(coef, cov, block) < 0.7
    design_flat, coef_flat, cov_flat = one_factor(list(-1.5 + rng.normal(0, sd)), list(sd))
    assert maximum_likelihood(coef_flat, cov_flat, design_blocks(design_flat)[0]) < 0.02


def test_blocks_are_anova_effects_whatever_the_reference_level():
    """With an interaction, a reference-coded "main effect" is the effect at the other column's reference level;
    the blocks centre the marginal means instead, so renaming the reference changes no pooled estimate."""
    rng = np.random.default_rng(1)
    n = 3000
    a, b = rng.choice(list("pqr"), n), rng.choice(list("xyzw"), n)
    theta = (
        pd.Series(a).map({"p": -1.0, "q": -2.0, "r": -0.5}).to_numpy()
        * pd.Series(b).map({"x": 1.0, "y": 1.3, "z": 0.7, "w": 1.0}).to_numpy()
    )
    t = rng.normal(0, 0.2, n)
    y = theta * t + rng.normal(0, 0.5, n)
    cells = pd.DataFrame({"a": a, "b": b}).drop_duplicates().sort_values(["a", "b"])
    fits = []
    for rename in ({}, {"p": "zz_p"}):
        X = pd.DataFrame({"a": pd.Series(a).replace(rename), "b": b})
        model = ElasticityDML(
            nuisance="linear", interactions="pairwise", pooling="empirical_bayes", n_folds=3, refit_nuisances=False
        ).fit(X, y, treatment=t)
        names = [blk.name for blk in design_blocks(model.design_)]
        assert names == ["a", "b", "a:b"]
        fits.append((model.effect(cells.assign(a=cells["a"].replace(rename))), model.pooling_tau2_))
    np.testing.assert_allclose(fits[0][0], fits[1][0], atol=1e-6)
    assert fits[0][1] == pytest.approx(fits[1][1], abs=1e-6)


def test_bad_arguments_say_what_to_fix():
    design, coef, cov = one_factor([-1.0, -2.0, -3.0], [0.1, 0.1, 0.1])
    blocks = design_blocks(design)
    with pytest.raises(ValueError, match="non-negative"):
        partial_pool(coef, cov, blocks, tau2={"g": -1.0})
    with pytest.raises(ValueError, match="not pooled"):
        partial_pool(coef, cov, blocks, tau2={"h": 1.0})
    with pytest.raises(ValueError, match="estimator"):
        partial_pool(coef, cov, blocks, estimator="median")
    with pytest.raises(ValueError, match="pooling"):
        ElasticityDML(pooling="bayes").fit(None, np.zeros(10), treatment=np.arange(10.0))  # type: ignore[arg-type]
    two = LinearDesign().fit(pd.DataFrame({"g": ["a", "b"]}))
    assert design_blocks(two) == []  # one free effect: nothing to pool
