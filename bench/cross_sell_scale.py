"""Batch cross-sell scoring: calibrated P(buys item) for every item and N customers, and each customer's top 10.

A model (``SharedPropensity`` by default, or ``PerItemPropensity``) is fitted on a simulated company (2,000
customers, product level: 64 items, look-back 180 days, horizon 60, as_of 2025-10-01). The N scored customers
are synthetic feature rows: each is a copy of a random training customer's pair rows (all 64 items) under a new
id, so feature distributions are realistic. Customers are scored in chunks; per chunk we time building the
pairs frame, ``score_pairs`` (encoding + boosters + calibration) and the top-10 extraction. One thread.

Figures: pairs (customer × item scores) per second for scoring alone and end to end, customers per second,
peak RSS. .venv/bin/python bench/cross_sell_scale.py [--customers 1000000] [--chunk 10000] [--model shared]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from cxml.data.synthetic import generate_company
from cxml.evaluation.ranking import top_k
from cxml.features.affinity import cross_sell_from_tables
from cxml.models.recommenders import PerItemPropensity, SharedPropensity


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="customers scored per batch")
    parser.add_argument("--model", choices=["shared", "per_item"], default="shared")
    parser.add_argument("--train-customers", type=int, default=2_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    company = generate_company(args.train_customers, seed=0)
    as_of = pd.Timestamp("2025-10-01")
    train = cross_sell_from_tables(
        company.tables, as_of - pd.Timedelta(days=60), level="product", lookback_days=180, horizon_days=60
    )
    model = (SharedPropensity() if args.model == "shared" else PerItemPropensity()).fit(train.pairs, train.labels)
    fit_s = time.perf_counter() - t0
    base = train.pairs
    items = train.items
    n_items = len(items)
    block = {c: base[c].to_numpy().reshape(-1, n_items) for c in base.columns}
    n_base = len(train.customers)
    print(
        f"model {type(model).__name__}: fitted on {len(base):,} pairs ({n_base:,} customers × {n_items} items) "
        f"in {fit_s:.1f} s; peak RSS so far {peak_rss_mib():,.0f} MiB"
    )

    rng = np.random.default_rng(0)
    build_s = score_s = top_s = 0.0
    done = 0
    while done < args.customers:
        n = min(args.chunk, args.customers - done)
        t1 = time.perf_counter()
        pick = rng.integers(n_base, size=n)
        ids = pd.Index([f"S{done + i:09d}" for i in range(n)], name="customer_id")
        index = pd.MultiIndex.from_product([ids, items], names=["customer_id", "item"])
        X = pd.DataFrame({c: v[pick].ravel() for c, v in block.items()}, index=index)
        t2 = time.perf_counter()
        p = model.score_pairs(X)
        t3 = time.perf_counter()
        top = top_k(p.reshape(n, n_items), 10, X["owned"].to_numpy().reshape(n, n_items))
        t4 = time.perf_counter()
        build_s, score_s, top_s = build_s + t2 - t1, score_s + t3 - t2, top_s + t4 - t3
        done += n
        assert top.shape == (n, min(10, n_items))
    pairs = done * n_items
    total = build_s + score_s + top_s
    print(f"customers {done:,} × items {n_items} = {pairs:,} pairs, chunks of {args.chunk:,} customers")
    print(f"  build pairs frame  {build_s:8.1f} s")
    print(f"  score_pairs        {score_s:8.1f} s   {pairs / score_s:,.0f} pairs/s")
    print(f"  top-10 per customer{top_s:8.1f} s")
    print(f"  end to end         {total:8.1f} s   {pairs / total:,.0f} pairs/s   {done / total:,.0f} customers/s")
    print(f"  peak RSS           {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
