"""What every command that drives Dagster shares."""

from __future__ import annotations


def quiet_dagster() -> None:
    """The versions are pinned; a user of the CLI has no use for Dagster's API-stability notes."""
    import warnings

    from dagster import BetaWarning, PreviewWarning

    for category in (BetaWarning, PreviewWarning):
        warnings.simplefilter("ignore", category)
