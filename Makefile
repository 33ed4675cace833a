# `make demo` and `make test` work on a fresh clone with only python3 (3.11+) and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint ui lock clean screenshot bench bench-quick stack stack-down kafka kafka-down

# The project's instance (.dagster_home/, SQLite storage) for every dagster, dg and trade-platform
# command run from here, through .env (scripts/project_env.py); a DAGSTER_HOME set in the shell wins.
venv: $(VENV)/.installed
	$(BIN)/python scripts/project_env.py

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/trade-platform demo

# Three workers (pytest-xdist) on two cores: the scale-out module mostly waits for the backfill
# daemon, so a third worker uses that time; each module whole on one worker, the longest first.
# The tests' files go to tmpfs where the machine has one (their SQLite instances and lakes write
# about 15% faster there): a folder per checkout, removed afterwards, whatever the result.
TEST_TMP := $(if $(wildcard /dev/shm/.),/dev/shm/trade-platform-tests-$(shell printf %s '$(CURDIR)' | cksum | cut -d' ' -f1))
test: venv lint
	$(BIN)/python -m pytest -n 3 --durations=15 $(if $(TEST_TMP),--basetemp=$(TEST_TMP)); \
	status=$$?; $(if $(TEST_TMP),rm -rf $(TEST_TMP);) exit $$status

# ruff (pinned in the dev extra): lint rules and formatting, as pyproject.toml sets them.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks (benchmarks/, BENCHMARKS.md): the bench extra adds duckdb for the comparison.
bench: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.run --sizes 10000000 --impls platform --reps 1 --label rss10m
	$(BIN)/python -m benchmarks.run --sizes 500000,1000000 --reps 5 --table-formats parquet,iceberg --label day
	$(BIN)/python -m benchmarks.backfill
	$(BIN)/python -m benchmarks.backfill --modes ranges --table-formats parquet,iceberg --label formats
	$(BIN)/python -m benchmarks.dbt_models
	$(BIN)/python -m benchmarks.floor
	$(BIN)/python -m benchmarks.kafka_ingest
	$(BIN)/python -m benchmarks.open_day

bench-quick: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run --quick

# As `dg dev`: .env gives the instance and, unless a key is set, the development PII key
# (docs/governance.md, "PII ...").
ui: venv
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The UI's pages after a demo into docs/screenshots/ (docs/ui.md): a demo in a temporary folder,
# served there; installs Debian's chromium with apt-get when missing.
screenshot: venv
	$(BIN)/python scripts/screenshot_ui.py --output-dir docs/screenshots

# The scale-out stack on loopback (docs/backfills-and-scaling-out.md): PostgreSQL, Redis, moto's S3, the
# daemon, the webserver, two workers and a Kafka broker; state, logs and env.sh under .stack/.
stack: venv
	$(BIN)/python scripts/stack.py up

stack-down: venv
	$(BIN)/python scripts/stack.py down

# A single-node Kafka broker (KRaft) on loopback, from Kafka's jars that mvn fetches into ~/.m2
# (deploy/kafka/pom.xml; needs Java 17+ and Maven); data, log and env.sh under .kafka/.
kafka: venv
	$(BIN)/python scripts/kafka_broker.py up

kafka-down: venv
	$(BIN)/python scripts/kafka_broker.py down

lock: venv
	$(BIN)/python -m pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) .dagster_home data .pytest_cache
