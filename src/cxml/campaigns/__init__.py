"""Running campaigns: learn from responses as they arrive (DESIGN §11).

One floor above ``decision`` (it shares the next best action's holdout and contact rules) and below ``serving``
and ``jobs``. The modules here are pure: frames, arrays and dataclasses in and out; the append-only assignment
log and the MLflow runs live in ``cxml.jobs.campaign`` and ``cxml.serving``.

- ``spec``: the campaign's definition, the allocation record the service reads, and the column names of the logs.
- ``policies``: allocation policies (uniform, Thompson sampling, top-two, warm start from uplift).
- ``simulate``: the closed loop on the simulated company and the unbiased replay of a randomised test.
- ``readout``: anytime-valid confidence sequences and stopping rules.
- ``ope``: off-policy evaluation (IPS, self-normalised IPS, direct method, doubly robust).
"""
