"""Scale-out: runs launched on Celery workers over Redis, an instance on PostgreSQL (``deploy/``)."""
