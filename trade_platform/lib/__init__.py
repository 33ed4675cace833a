"""Framework code shared by the Dagster wiring: what is about Dagster itself, not a domain."""
