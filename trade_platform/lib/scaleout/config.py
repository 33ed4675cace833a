"""How the run launcher and the workers reach Celery: one configuration for both sides."""

from __future__ import annotations

from dagster_celery.config import DEFAULT_CONFIG

from trade_platform.settings import CELERY_BACKEND_URL_ENV, CELERY_BROKER_URL_ENV, Settings

WORKER_TAG = "trade_platform/worker"
QUEUE = "dagster"
# A run's task state outlives the run (Redis expires it after a day by default, and a longer
# run would then look lost to run monitoring).
RESULT_EXPIRES_SECONDS = 7 * 24 * 3600


def check_reachable(url: str, service: str) -> None:
    """Fail with the service's name and address (password masked) when it does not answer."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        try:
            connection.ensure_connection(max_retries=1, timeout=5)
        except Exception as exc:  # kombu and the transports raise several kinds
            raise ConnectionError(f"cannot reach {service} at {connection.as_uri()}: {exc}") from None


def celery_app_args(settings: Settings | None = None) -> dict:
    """``Celery(...)`` arguments: the broker and the persistent result backend from the
    environment, one task at a time, and stdout left alone so Dagster captures compute logs."""
    settings = settings or Settings.from_env()
    missing = [
        name
        for name, value in (
            (CELERY_BROKER_URL_ENV, settings.celery_broker_url),
            (CELERY_BACKEND_URL_ENV, settings.celery_backend_url),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"set {' and '.join(missing)} (for example redis://127.0.0.1:6379/0 and /1)")
    return {
        "broker": settings.celery_broker_url,
        "backend": settings.celery_backend_url,
        "include": [],
        "config_source": {
            **DEFAULT_CONFIG,
            "task_default_queue": QUEUE,
            "worker_prefetch_multiplier": 1,
            # Celery's stdout replacement has no file descriptor: Dagster would capture nothing.
            "worker_redirect_stdouts": False,
            "result_expires": RESULT_EXPIRES_SECONDS,
        },
    }
