"""What the service tells its operators: HTTP metrics by route (bounded), and one log line per client error.

- ``label_routes``: BentoML's HTTP metrics label each series with the request's raw path, so every unknown path
  (even one refused with 401) added about 20 Prometheus series for good: 3,000 random paths took ``/metrics`` from
  255 KB to 12 MB and a worker from 537 to 742 MiB. The served routes keep their own label; any other path is
  counted as ``OTHER``. BentoML builds its metrics middleware when the ASGI app is made (after the service module
  is imported), from ``bentoml._internal.server.http.instruments``: the subclass installed there labels by route.
- ``quiet_client_errors``: BentoML logs each request its pydantic model refuses at ERROR, with a traceback that
  holds the request's values (customer ids included). A client error is the access log's one line (method, path,
  status, sizes) and the reasons go back to the client; the traceback is dropped, and the fields at fault (names
  and error types, no values) are logged at DEBUG. Server errors keep their traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

OTHER = "other"
"""The ``endpoint`` label of every path that is not a route of the service."""
STATIC_PREFIX = "/static_content/"
BENTOML_ROUTES = ("/", "/docs.json", "/schema.json", "/metrics", "/livez", "/readyz", "/healthz")
_REAL_PATH = "cxml.real_path"
_EXCEPTION_LOGGER = "bentoml._internal.server.http_app"  # where BentoML's ``log_exception`` writes


def route_label(path: str, routes: frozenset[str]) -> str:
    """The metrics label of a request path: the route itself, the static assets as one, anything else ``OTHER``."""
    if path in routes:
        return path
    if path.startswith(STATIC_PREFIX):
        return STATIC_PREFIX.rstrip("/")
    return OTHER


def label_routes(routes: Iterable[str]) -> None:
    """Make BentoML's HTTP metrics label requests by ``route_label`` (call before the ASGI app is built)."""
    from bentoml._internal.server.http import instruments

    known = frozenset([*routes, *BENTOML_ROUTES])
    base: Any = instruments.RunnerTrafficMetricsMiddleware
    if getattr(base, "cxml_routes", None) is not None:  # installed already (the module imported twice)
        base = base.__mro__[1]

    class RouteLabelledMetrics(base):
        """BentoML's middleware seeing the route label as the path; the app behind it sees the real path."""

        cxml_routes = known

        def __init__(self, app: Any, **kwargs: Any) -> None:
            super().__init__(_RestorePath(app), **kwargs)

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                label = route_label(scope["path"], known)
                if label != scope["path"]:
                    scope = {**scope, "path": label, _REAL_PATH: scope["path"]}
            await super().__call__(scope, receive, send)

    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics  # type: ignore[assignment,misc]


class _RestorePath:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if _REAL_PATH in scope:
            scope = {k: v for k, v in scope.items() if k != _REAL_PATH} | {"path": scope[_REAL_PATH]}
        await self.app(scope, receive, send)


def _client_error(exc: BaseException | None) -> str | None:
    """A one-line summary (fields and error types, no values) when ``exc`` is the client's fault, else None."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException

    if isinstance(exc, ValidationError):
        fields = ", ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'} ({e['type']})" for e in exc.errors()[:10])
        return f"{exc.error_count()} validation error(s): {fields}"
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return f"HTTP {exc.status_code}"
    if isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
        return f"{type(exc).__name__} {int(exc.error_code)}"
    return None


class _ClientErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        summary = _client_error(record.exc_info[1])
        if summary is None:
            return True
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(logging.DEBUG):
            where = " ".join(str(a) for a in (record.args or ())) if isinstance(record.args, tuple) else ""
            logger.debug("client error on %s: %s", where, summary)
        return False


def quiet_client_errors() -> None:
    """Drop BentoML's traceback of a client error (the access log keeps its line); idempotent."""
    logger = logging.getLogger(_EXCEPTION_LOGGER)
    if not any(isinstance(f, _ClientErrorFilter) for f in logger.filters):
        logger.addFilter(_ClientErrorFilter())
