"""The code location: each domain of ``defs/`` builds its own definitions from one ``Settings``;
this module merges them and adds what every domain shares (resources, executor).

Dagster (``dagster dev``, ``dg``, the daemon, every run worker) loads ``defs``, which reads the
environment when it is called, never at import; tests and tools call ``build_defs`` with their
own ``Settings``.
"""

from __future__ import annotations

import warnings

import dagster as dg

from trade_platform.defs.alerts import definitions as alerts
from trade_platform.defs.analytics import definitions as analytics
from trade_platform.defs.freshness import definitions as freshness
from trade_platform.defs.governance import definitions as governance
from trade_platform.defs.ingest import definitions as ingest
from trade_platform.defs.kafka import definitions as kafka
from trade_platform.defs.lineage import definitions as lineage
from trade_platform.defs.marts import definitions as marts
from trade_platform.lib.resources import platform_resources
from trade_platform.settings import Settings

DOMAINS = (ingest, marts, analytics, freshness, lineage, governance, kafka, alerts)


def build_defs(settings: Settings) -> dg.Definitions:
    """Every domain wired to the landing zone, lake and knobs of ``settings``.

    Dagster is pinned, and the Beta and Preview APIs the domains use (partitioned asset checks,
    backfill policies) are chosen on purpose: their stability notes are silenced while the
    definitions are built, so no ``dagster``, ``dg`` or ``trade-platform`` command prints them,
    and any other warning still shows. The repository is resolved here too (Dagster caches it):
    resolving it re-creates the sensors, which warns again."""
    with warnings.catch_warnings():
        for category in (dg.BetaWarning, dg.PreviewWarning):
            warnings.simplefilter("ignore", category)
        merged = _merged(settings)
        merged.get_repository_def()
    return merged


def _merged(settings: Settings) -> dg.Definitions:
    shared = dg.Definitions(
        resources=platform_resources(settings),
        # Steps run in the run's process: polars already uses every core inside a step, and a
        # process per step would re-import the code location (seconds) for each of 14 steps.
        executor=dg.in_process_executor,
    )
    return dg.Definitions.merge(*(domain.build_defs(settings) for domain in DOMAINS), shared)


@dg.definitions
def defs() -> dg.Definitions:
    """The code location as the environment configures it (``TRADE_PLATFORM_*``)."""
    return build_defs(Settings.from_env())
