"""A day's folder as a file set: versions that see every replacement, and the completeness rule."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from trade_platform.core.landing.fileset import completeness, fileset_digest, is_lost_offsets_record
from trade_platform.core.landing.listing import ListedFile, list_day, list_landing_files

DAY = "2024-03-01"
OLD = 1_000_000_000  # 2001: what a copy tool that keeps mtimes gives a file staged long ago


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / "trades" / f"date={DAY}"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("trade_id\n1\n")
    return folder


def digest(landing: Path) -> str:
    files = list_landing_files(str(landing), DAY)
    return fileset_digest(ListedFile(f.relative_path, f.size, f.version) for f in files)


COPIES = {
    "cp -p": "cp -p {staged} {target}",  # over the existing file: same inode, the source's mtime
    "mv": "mv {staged} {target}",  # from a staging folder: another inode, the source's mtime
    "tar x": "tar -C {staging} -cf - a.csv | tar -C {folder} -xf -",
}


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_a_file_replaced_with_an_old_mtime_and_the_same_size_is_another_version(folder, tmp_path, copy):
    landing, staging = tmp_path / "landing", tmp_path / "staging"
    os.utime(folder / "a.csv", (OLD, OLD))
    before = digest(landing)
    staging.mkdir()
    staged = staging / "a.csv"
    staged.write_text("trade_id\n2\n")  # same size, other content
    os.utime(staged, (OLD, OLD))
    command = COPIES[copy].format(staged=staged, target=folder / "a.csv", staging=staging, folder=folder)
    subprocess.run(command, shell=True, check=True)
    assert (folder / "a.csv").stat().st_mtime == OLD and (folder / "a.csv").read_text() == "trade_id\n2\n"
    assert digest(landing) != before


def test_a_late_file_with_an_old_mtime_changes_the_digest(folder, tmp_path):
    landing = tmp_path / "landing"
    before = digest(landing)
    late = folder / "late.jsonl"
    late.write_text('{"trade_id": "9"}\n')
    os.utime(late, (OLD, OLD))
    assert digest(landing) != before


def test_reading_a_file_does_not_change_its_version(folder, tmp_path):
    landing = tmp_path / "landing"
    before = digest(landing)
    (folder / "a.csv").read_bytes()
    assert digest(landing) == before


def listed(landing: Path) -> list[ListedFile]:
    return list_day(str(landing), DAY)


def test_a_day_read_in_full_is_complete_and_hidden_files_do_not_count(folder, tmp_path):
    landing = tmp_path / "landing"
    read = listed(landing)
    for hidden in (".a.csv.tmp", "_SUCCESS", "_temporary/0/part.csv"):
        (folder / hidden).parent.mkdir(parents=True, exist_ok=True)
        (folder / hidden).write_text("x")
    found = completeness(listed(landing), read, {}, {}, str(landing))
    assert found.complete and found.problems() == []


def test_every_kind_of_unaccounted_file_is_named(folder, tmp_path):
    landing = tmp_path / "landing"
    (folder / "b.csv").write_text("trade_id\n1\n")
    read = listed(landing)
    (folder / "b.csv").write_text("trade_id\n3\n")  # same size, rewritten after the run
    (folder / "notes.txt").write_text("x")  # not a landing format
    (folder / "trades.csv.lz4").write_text("x")  # neither is this compression
    (folder / "sub").mkdir()
    late = folder / "sub" / "late.csv"
    late.write_text("trade_id\n4\n")
    os.utime(late, (OLD, OLD))
    unreadable = {f"trades/date={DAY}/a.csv": "corrupt gzip stream"}
    fewer = {f"trades/date={DAY}/gone.csv": {"before": 10, "after": 0}}
    found = completeness(listed(landing), read, unreadable, fewer, str(landing))
    prefix = f"trades/date={DAY}/"
    assert found.not_read == {
        prefix + "b.csv": "changed after the run",
        prefix + "notes.txt": "its extension is not a landing format",
        prefix + "sub/late.csv": "arrived after the run",
        prefix + "trades.csv.lz4": "its extension is not a landing format",
    }
    assert found.unreadable == unreadable and found.fewer_records == fewer and not found.complete
    assert len(found.files) == 6 and all(any(path in p for p in found.problems()) for path in found.files)


def test_a_removed_file_is_not_a_loss(folder, tmp_path):
    """Its records are replayed from the stored partition (docs/replaying-the-dlq.md, 'Files gone from the landing zone')."""
    landing = tmp_path / "landing"
    read = listed(landing)
    (folder / "a.csv").unlink()
    assert completeness(listed(landing), read, {}, {}, str(landing)).complete


def test_lost_offsets_records_are_listed_and_read(folder, tmp_path):
    landing = tmp_path / "landing"
    read = listed(landing)
    lost = folder / "_kafka_lost"
    lost.mkdir()
    record = {"topic": "trades", "partition": 2, "first_offset": 0, "last_offset": 99, "reason": "retention"}
    (lost / "trades-p2-0-99.json").write_text(json.dumps(record))
    (lost / "trades-p3-0-9.json").write_text("{not json")
    assert [f.path.rsplit("/", 1)[-1] for f in listed(landing) if is_lost_offsets_record(f.path)] == [
        "trades-p2-0-99.json",
        "trades-p3-0-9.json",
    ]
    found = completeness(listed(landing), read, {}, {}, str(landing))
    assert found.lost_offsets[f"trades/date={DAY}/_kafka_lost/trades-p2-0-99.json"] == (
        "trades partition 2 offsets 0-99: retention"
    )
    assert "cannot be read" in found.lost_offsets[f"trades/date={DAY}/_kafka_lost/trades-p3-0-9.json"]
    assert list_day(str(tmp_path / "elsewhere"), DAY) == []


def test_folders_and_folder_markers_are_not_files_and_links_are_judged_by_their_target(folder, tmp_path):
    landing = tmp_path / "landing"
    target = tmp_path / "t.csv"
    target.write_text("trade_id\n1\n")
    (folder / "link.csv").symlink_to(target)
    (folder / "sub").mkdir()
    before = {f.path: f for f in listed(landing)}
    assert set(before) == {f"trades/date={DAY}/a.csv", f"trades/date={DAY}/link.csv"}
    target.write_text("trade_id\n2\n")  # the target rewritten at the same size
    assert {f.path: f for f in listed(landing)}[f"trades/date={DAY}/link.csv"] != before[
        f"trades/date={DAY}/link.csv"
    ]


def test_a_lost_offsets_record_of_a_topic_named_like_a_hidden_file_is_still_seen(folder, tmp_path):
    landing = tmp_path / "landing"
    lost = folder / "_kafka_lost"
    lost.mkdir()
    (lost / "_trades-p0-0-9.json").write_text(
        '{"topic": "_trades", "partition": 0, "first_offset": 0, "last_offset": 9, "reason": "retention"}'
    )
    (lost / ".trades-p0-0-9.json.tmp").write_text("{")
    found = completeness(listed(landing), listed(landing), {}, {}, str(landing))
    assert list(found.lost_offsets) == [f"trades/date={DAY}/_kafka_lost/_trades-p0-0-9.json"]
