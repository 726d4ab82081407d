"""The price family's own gate checks: an elasticity a category manager could act on (pure: metrics in, reasons out).

Demand error alone cannot tell a usable price model: on a retailer panel a model promoted for its demand RMSE had a
pooled own-price elasticity of +0.13 where its log-log baseline said −2.39, and a positive elasticity recommends
raising prices until the guardrail stops it. So a candidate is refused when

* its pooled elasticity, or any held-out cell's, is positive with its interval clear of zero (demand surely rises
  with price: a confounded estimate, not a market), or
* where no simulation knows the truth (no ``elasticity_mae``), its pooled elasticity and the baseline's (log-log
  with group and period effects) disagree beyond both intervals: one of them is wrong and nothing here can say
  which, so the simpler, transparent one stays.

The pooled elasticity is the model's own, with its interval from the coefficients' covariance
(``PriceDML.fitted_params``: ``elasticity.pooled``, ``_lower``, ``_upper``); without it, the holdout rows' mean
with the means of their interval ends, an interval at least as wide. Metrics without elasticities give no reasons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def _get(metrics: Mapping[str, float], key: str) -> float:
    value = metrics.get(key, math.nan)
    return float(value) if value is not None else math.nan


def elasticity_refusals(
    candidate: Mapping[str, float], baseline: Mapping[str, float], fitted: Mapping[str, object] | None = None
) -> list[str]:
    """Why the candidate's elasticities cannot be served (empty: nothing against them). ``fitted``: the model's
    ``fitted_params()``, whose pooled interval is used when it has one."""
    if not math.isfinite(_get(candidate, "elasticity_mean")):
        return []
    e, lo, hi = (_get(candidate, f"elasticity_mean{s}") for s in ("", "_lower", "_upper"))
    own = {k: v for k, v in (fitted or {}).items() if k.startswith("elasticity.pooled") and isinstance(v, float)}
    if len(own) == 3:
        e, lo, hi = own["elasticity.pooled"], own["elasticity.pooled_lower"], own["elasticity.pooled_upper"]
    reasons = []
    if lo > 0:
        reasons.append(
            f"the pooled own-price elasticity {e:+.2f} [{lo:+.2f}, {hi:+.2f}] is positive with its interval clear of "
            "zero: demand would rise with price, and the recommendations would raise prices to the guardrail"
        )
    top = _get(candidate, "elasticity_max_lower")
    if top > 0 and not lo > 0:
        reasons.append(
            f"a held-out cell's own-price elasticity is positive with its interval clear of zero (lower end "
            f"{top:+.2f}): that cell's recommendations would raise prices to the guardrail"
        )
    truth_known = math.isfinite(_get(candidate, "elasticity_mae"))
    b, b_lo, b_hi = (_get(baseline, f"elasticity_mean{s}") for s in ("", "_lower", "_upper"))
    if not truth_known and all(math.isfinite(v) for v in (b, b_lo, b_hi, lo, hi)) and (hi < b_lo or lo > b_hi):
        reasons.append(
            f"the pooled elasticity {e:+.2f} [{lo:+.2f}, {hi:+.2f}] disagrees with the log-log baseline's {b:+.2f} "
            f"[{b_lo:+.2f}, {b_hi:+.2f}] beyond both intervals, and no known truth can say which is right "
            "(check the residual price variation the run reports: params.residual_price_share)"
        )
    return reasons
