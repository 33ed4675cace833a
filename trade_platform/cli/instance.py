"""The Dagster instance of a command: ``DAGSTER_HOME``'s, which the repository's ``.env`` sets to
its ``.dagster_home`` (written by ``make``, ``scripts/project_env.py``) unless it is set already."""

from __future__ import annotations

HINT = (
    "run it from the repository after `make venv` (its .env sets DAGSTER_HOME to .dagster_home), "
    "or set DAGSTER_HOME to the folder of an instance's dagster.yaml"
)


class NoInstanceError(Exception):
    """The command needs an instance and has none; ``main`` prints this one line."""


def instance_of_dagster_home():
    """The instance of ``DAGSTER_HOME``; none, or an unreachable PostgreSQL, fails in one line."""
    from dagster import DagsterError, DagsterInstance
    from dagster_postgres.utils import DagsterPostgresException
    from sqlalchemy.exc import OperationalError

    try:
        return DagsterInstance.get()
    except (OperationalError, DagsterPostgresException) as exc:
        while exc.__cause__ is not None:  # dagster-postgres gives up after retries, from the driver's error
            exc = exc.__cause__
        reason = str(getattr(exc, "orig", exc)).strip()
        raise ConnectionError(
            f"cannot reach PostgreSQL, the Dagster instance's storage (DAGSTER_PG_URL): {reason}"
        ) from None
    except DagsterError as exc:  # DAGSTER_HOME unset, relative or missing: Dagster's first sentence
        raise NoInstanceError(f"{str(exc).strip().split('. ')[0].rstrip('.')}: {HINT}") from None
