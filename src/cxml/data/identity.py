"""Identity resolution: link identifiers that co-occur into one customer.

Every identifier (cookie, device, e-mail hash, phone hash, loyalty card) and every known ``customer_id`` is a
node; an ``identities`` row links an identifier to its customer, a ``links`` row links two identifiers seen
together (an event carrying a cookie and a login e-mail, a loyalty card at a store order).
Connected components
(union–find, here ``scipy.sparse.csgraph``) are the resolved customers. A component that holds several known
customer ids resolves to the smallest one, so the result does not depend on row order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RESOLVED_COLUMNS = ("identifier", "identifier_type", "customer_id")


def resolve_identities(identities: pd.DataFrame, links: pd.DataFrame | None = None) -> pd.DataFrame:
    """Map every identifier (from ``identities`` and ``links``) to a resolved ``customer_id`` (null if none).

    ``links`` has columns ``identifier_a`` and ``identifier_b``. Returns columns ``identifier``,
    ``identifier_type`` (null for identifiers only seen in ``links``) and ``customer_id``; one row per
    identifier.
    """
    ident = identities["identifier"].astype("str").to_numpy()
    has_cust = identities["customer_id"].notna().to_numpy()
    if links is not None and len(links):
        link_a = links["identifier_a"].astype("str").to_numpy()
        link_b = links["identifier_b"].astype("str").to_numpy()
    else:
        link_a = link_b = np.array([], dtype=object)
    id_codes, id_names = pd.factorize(np.concatenate([ident, link_a, link_b]).astype(object))
    cust_codes, cust_names = pd.factorize(identities["customer_id"][has_cust].astype("str").to_numpy())
    n_ids, n_id_rows, n_links = len(id_names), len(ident), len(link_a)
    # nodes: identifiers 0..n_ids-1, then customers; edges: identifier-customer and identifier-identifier
    src = np.concatenate([id_codes[:n_id_rows][has_cust], id_codes[n_id_rows : n_id_rows + n_links]])
    dst = np.concatenate([n_ids + cust_codes, id_codes[n_id_rows + n_links :]])
    n_nodes = n_ids + len(cust_names)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    _, component = connected_components(graph, directed=False)

    # the resolved customer of a component is the smallest customer id in it
    best = pd.Series(np.asarray(cust_names, dtype=object), index=component[n_ids:]).groupby(level=0).min()
    types = pd.Series(identities["identifier_type"].to_numpy(), index=ident)
    types = types[~types.index.duplicated(keep="first")]
    names = pd.Index(np.asarray(id_names, dtype=object))
    out = pd.DataFrame(
        {
            "identifier": pd.array(names.to_numpy(), dtype="str"),
            "identifier_type": pd.array(types.reindex(names).to_numpy(), dtype="str"),
            "customer_id": pd.array(best.reindex(component[:n_ids]).to_numpy(), dtype="str"),
        }
    )
    return out.sort_values("identifier", kind="stable").reset_index(drop=True)


def attribute_events(events: pd.DataFrame, identities: pd.DataFrame, links: pd.DataFrame | None = None) -> pd.DataFrame:
    """A copy of ``events`` whose missing ``customer_id`` is filled from the resolved identifier.

    ``identities`` may be the raw contract table or the output of ``resolve_identities``; events whose
    identifier never links to a customer keep a null ``customer_id``.
    """
    resolved = resolve_identities(identities, links)
    lookup = resolved.dropna(subset=["customer_id"]).set_index("identifier")["customer_id"]
    out = events.copy()
    missing = out["customer_id"].isna() & out["identifier"].notna()
    if missing.any():
        filled = out.loc[missing, "identifier"].map(lookup)
        out.loc[missing, "customer_id"] = filled.to_numpy()
    return out
