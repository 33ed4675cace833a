"""``python -m benchmarks.dbt_models``: what the dbt models cost against ``ohlcv`` on the same day.

Issue #26 asks for the three models of a 1M-trade day in at most 1.5x the time of ``ohlcv``. One
day of ``--trades`` generated trades (every landing format, bad records, accounts pseudonymised)
is materialized once through every asset of the platform; then, in this order and interleaved,
``--repetitions`` times each:

- ``in-process``: a run of ``ohlcv`` (with its checks, steps of their own), a run of the three
  models (their 22 dbt tests are checks of the same step) and one of the three models without
  their tests (no check selected: dbt builds the models alone) on one instance, each timed by its
  run's own events: every step from STEP_START to STEP_SUCCESS (or failure), ``ohlcv`` and
  ``dbt_models`` compared, and the run from its first to its last event; and the run's CPU time;
- ``fresh-process``: the same three runs, each in a new Python process (the way a run worker
  starts one): its wall and CPU time from spawn to exit (a dbt process it starts included), and
  the part spent loading the code location.

Both are read together: the ratio of the two steps is the cost of the models' work, the ratio of
the fresh processes adds what each costs to start. The 1-minute load average is recorded with
every measurement, and CPU times with the wall times: this machine's cores are shared, and a
loaded machine stretches wall times far more than CPU times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import BAD_FRACTION, DAY, N_SYMBOLS, SEED, embedded_instance

ROOT = Path(__file__).resolve().parent
MODELS = ("symbol_hourly", "account_daily", "dlq_daily_summary")
SELECTIONS = {"ohlcv": ("ohlcv",), "models": MODELS, "models-without-tests": MODELS}
"""What a timed run materializes; ``models-without-tests`` selects none of the models' checks, so
dbt builds the three models alone (``ohlcv``'s checks are steps of their own either way)."""
WITHOUT_CHECKS = {"models-without-tests"}
STEPS = {"ohlcv": "ohlcv", "models": "dbt_models", "models-without-tests": "dbt_models"}
STEP_ENDS = {"STEP_SUCCESS", "STEP_FAILURE"}


def _job(work: Path, selection: str | None):
    """The implicit job of every asset (dbt models included), or only ``selection``'s assets."""
    from dagster import AssetKey

    from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, PiiKey
    from trade_platform.definitions import build_defs
    from trade_platform.settings import Settings

    settings = Settings(
        landing_url=str(work / "landing"),
        lake_url=str(work / "lake"),
        start_date=DAY,
        dbt_models=None,
        pii_key=PiiKey(DEVELOPMENT_KEY),
    )
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    if selection is None:
        return job
    checks = set() if selection in WITHOUT_CHECKS else None  # None: the selected assets' checks
    return job.get_subset(
        asset_selection={AssetKey(name) for name in SELECTIONS[selection]}, asset_check_selection=checks
    )


def _instance(work: Path):
    home = work / "dagster-home"
    home.mkdir(parents=True, exist_ok=True)
    return embedded_instance(home)


def prepare(work: Path, n_trades: int) -> dict:
    """The landing day and every asset of it but the models, once; returns how long it took."""
    from dagster import AssetKey

    from trade_platform.core.generate import generate_day, write_day

    started = time.perf_counter()
    generated = generate_day(DAY, n_trades, seed=SEED, n_symbols=N_SYMBOLS, bad_fraction=BAD_FRACTION)
    write_day(generated, str(work / "landing"))
    job = _job(work, None)
    platform = job.asset_layer.executable_asset_keys - {AssetKey(model) for model in MODELS}
    job = job.get_subset(asset_selection=platform)
    with _instance(work) as instance:
        result = job.execute_in_process(
            partition_key=DAY.isoformat(), instance=instance, raise_on_error=False
        )
    if not result.success:
        raise RuntimeError("materializing the day's platform assets failed")
    return {"seconds": time.perf_counter() - started}


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def timed_run(job, instance, selection: str) -> dict:
    """One run of the day; its step and run times from the run's own event log, and the CPU time
    of the run (this process's and its children's: a dbt process is one), which a loaded machine
    stretches less than wall times."""
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    result = job.execute_in_process(partition_key=DAY.isoformat(), instance=instance, raise_on_error=False)
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
    entries = instance.all_logs(result.run_id)
    steps: dict[str, dict[str, float]] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            steps.setdefault(event.step_key, {})["start"] = entry.timestamp
        elif event.event_type_value in STEP_ENDS:
            steps.setdefault(event.step_key, {})["end"] = entry.timestamp
    durations = {key: times["end"] - times["start"] for key, times in steps.items() if len(times) == 2}
    return {
        "selection": selection,
        "success": result.success,
        "step_seconds": durations[STEPS[selection]],
        "steps": durations,
        "run_seconds": entries[-1].timestamp - entries[0].timestamp,
        "run_cpu_seconds": cpu,
        "load_1m": os.getloadavg()[0],
    }


def in_process(work: Path, repetitions: int) -> list[dict]:
    jobs = {selection: _job(work, selection) for selection in SELECTIONS}
    runs = []
    with _instance(work) as instance:
        for index in range(repetitions):
            for selection in SELECTIONS:
                runs.append({"repetition": index, **timed_run(jobs[selection], instance, selection)})
                print(f"  in-process {index} {selection}: step {runs[-1]['step_seconds']:.2f}s", flush=True)
    return runs


def child(work: Path, selection: str) -> dict:
    """One run of ``selection`` in this fresh process (started by ``fresh_process``)."""
    started = time.perf_counter()
    job = _job(work, selection)
    loaded = time.perf_counter() - started
    with _instance(work) as instance:
        run = timed_run(job, instance, selection)
    return {**run, "load_seconds": loaded}


def fresh_process(work: Path, repetitions: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    runs = []
    for index in range(repetitions):
        for selection in SELECTIONS:
            command = [
                sys.executable,
                "-m",
                "benchmarks.dbt_models",
                "--work",
                str(work),
                "--child",
                selection,
            ]
            started, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_CHILDREN)
            done = subprocess.run(command, env=env, cwd=ROOT.parent, capture_output=True, text=True)
            wall, cpu = time.perf_counter() - started, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
            if done.returncode != 0:
                raise RuntimeError(f"child {selection} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append({"repetition": index, **result, "wall_seconds": wall, "cpu_seconds": cpu})
            print(f"  fresh-process {index} {selection}: {wall:.2f}s", flush=True)
    return runs


def summary(runs: list[dict], field: str) -> dict:
    """Medians per selection of ``field`` and each models selection's ratio to ``ohlcv``, of
    medians and per pair."""
    values = {s: [run[field] for run in runs if run["selection"] == s] for s in SELECTIONS}
    medians = {s: statistics.median(v) for s, v in values.items()}
    models = [s for s in SELECTIONS if s != "ohlcv"]
    return {
        "median_seconds": medians,
        "ratios_of_medians": {s: medians[s] / medians["ohlcv"] for s in models},
        "ratio_per_repetition": {
            s: [m / o for o, m in zip(values["ohlcv"], values[s], strict=True)] for s in models
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "dbt-models")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--label", default="", help="appended to the results file's name")
    parser.add_argument("--child", choices=sorted(SELECTIONS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.work, args.child)))
        return 0
    if args.work.exists():
        raise SystemExit(f"{args.work} exists: give a new --work folder")
    args.work.mkdir(parents=True)
    print(f"materializing {args.trades:,} trades of {DAY} ...", flush=True)
    prepared = prepare(args.work, args.trades)
    report = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.dbt_models " + " ".join(argv if argv is not None else sys.argv[1:]),
        "trades": args.trades,
        "repetitions": args.repetitions,
        "cpus": os.cpu_count(),
        "prepare_seconds": prepared["seconds"],
        "in_process": {"runs": in_process(args.work, args.repetitions)},
        "fresh_process": {"runs": fresh_process(args.work, args.repetitions)},
    }
    report["in_process"]["step"] = summary(report["in_process"]["runs"], "step_seconds")
    report["in_process"]["run"] = summary(report["in_process"]["runs"], "run_seconds")
    report["in_process"]["run_cpu"] = summary(report["in_process"]["runs"], "run_cpu_seconds")
    report["fresh_process"]["wall"] = summary(report["fresh_process"]["runs"], "wall_seconds")
    report["fresh_process"]["cpu"] = summary(report["fresh_process"]["runs"], "cpu_seconds")
    report["fresh_process"]["step"] = summary(report["fresh_process"]["runs"], "step_seconds")
    for what in ("in_process", "fresh_process"):
        for measure, found in report[what].items():
            if measure != "runs":
                ratios = ", ".join(f"{s} {r:.2f}" for s, r in found["ratios_of_medians"].items())
                print(f"{what} {measure}: {found['median_seconds']} ratios to ohlcv: {ratios}")
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = f"-{args.label}" if args.label else ""
    path = args.results / f"{datetime.now(UTC).date().isoformat()}-dbt-models{suffix}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path}")
    ok = all(run["success"] for what in ("in_process", "fresh_process") for run in report[what]["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
