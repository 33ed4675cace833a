"""The benchmark's smoke run: every implementation agrees with the platform's outputs.

Timings are printed by the run, never asserted.
"""

from __future__ import annotations

from benchmarks.run import main

IMPLS = ["platform", "dagster", "pandas", "naive", "duckdb"]


def test_every_benchmark_implementation_agrees_with_the_platform(tmp_path, capsys):
    status = main(["--quick", "--work", str(tmp_path), "--impls", ",".join(IMPLS)])
    output = capsys.readouterr()
    assert status == 0, output.out + output.err
    verdicts = {line.split()[0]: line for line in output.out.splitlines() if line.startswith("  ")}
    for impl in IMPLS[1:]:
        assert verdicts[impl].rstrip().endswith("agrees"), verdicts[impl]
