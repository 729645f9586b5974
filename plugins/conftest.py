"""The bundled channels' own tests (``plugins/<code>/tests/``) use the suite's fixtures: a migrated
database per backend, a clean slate per test, an API client and staff tokens."""

from tests.conftest import *  # noqa: F403
