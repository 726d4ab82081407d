"""How many threads each pool gets from ``n_jobs`` (an estimator's, or a pipeline's ``tuning.n_jobs``).

``n_jobs=-1`` (``AUTO``, the pipelines' default) puts LightGBM and XGBoost on every core this process may use,
because their models do not change with the thread count (LightGBM documents it for ``deterministic`` with a forced
histogram layout; ``bench/booster_threads.py`` and ``tests/unit/test_threads.py`` check both bit for bit), and keeps
one thread wherever the result could change with it: CatBoost (its model does), BLAS and the other OpenMP pools. So
the same data and seed give the same model whatever the cores (checked at 1 and 2 threads; XGBoost promises it only
for one count, so the tests hold it to it), while training uses them; a search that stops on its timeout does run more
trials on more cores. A positive ``n_jobs`` is that many threads everywhere, as before. ``$CXML_THREADS`` caps
``AUTO`` (the test suite sets 1: it runs more workers than cores).
"""

from __future__ import annotations

import os

AUTO = -1
"""``n_jobs`` for: every core where the model does not depend on threads, one thread elsewhere."""

THREADS_ENV = "CXML_THREADS"


def available_cores() -> int:
    """The threads ``AUTO`` gives a booster: ``$CXML_THREADS``, else the cores this process may run on."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV}={value!r}: give a whole number of threads, 1 or more (or unset it)")
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_n_jobs(n_jobs: int) -> int:
    """``n_jobs`` itself when it is ``AUTO`` or a positive count; a clear error otherwise."""
    if n_jobs != AUTO and n_jobs < 1:
        raise ValueError(f"n_jobs must be -1 (every core where the model does not change) or 1 or more, not {n_jobs}")
    return n_jobs


def booster_threads(n_jobs: int) -> int:
    """Threads for LightGBM and XGBoost, whose models are the same at any count: every available core for
    ``AUTO``."""
    return available_cores() if check_n_jobs(n_jobs) == AUTO else n_jobs


def pool_threads(n_jobs: int) -> int:
    """Threads for a pool whose result may change with them (CatBoost, BLAS, scikit-learn's OpenMP): one for
    ``AUTO``."""
    return 1 if check_n_jobs(n_jobs) == AUTO else n_jobs
