"""Rows for each model family: from the contract tables, from a file a user brings, and for serving.

One module per family (``cxml.datasets.<family>``, exposing its ``FAMILY`` record); shared table handling in
``tables``; the registry and the ``as_of`` contract in ``family``.
"""

from cxml.datasets.family import Family, check_as_of, families, get_family

__all__ = ["Family", "check_as_of", "families", "get_family"]
