"""Fixtures shared by the integration tests: the served champions and a running server (serving_fixtures)."""

from tests.integration.serving_fixtures import client, served

__all__ = ["client", "served"]
