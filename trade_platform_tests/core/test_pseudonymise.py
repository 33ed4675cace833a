"""PII in core: the key's configuration, the tokens, and account_id/trader_id from landing files of
every format through the core ingest (real files, no Dagster; ``defs/test_pii.py`` runs Dagster)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from trade_platform.core.corrections import apply_corrections
from trade_platform.core.generate import FORMATS, generate_day, render
from trade_platform.core.ingest import SCHEMAS, ingest_day
from trade_platform.core.landing.files import LandingFile, iter_landing_file
from trade_platform.core.landing.listing import list_landing_files
from trade_platform.core.names import RAW_TRADES, TRADES_DLQ, VALIDATED_TRADES
from trade_platform.core.pseudonymise import DEVELOPMENT_KEY, MissingPiiKeyError, PiiKey
from trade_platform.core.spill import Spill
from trade_platform.settings import Settings
from trade_platform_tests.conftest import DAY, TS

SECRET = "a-32-byte-or-longer-key-for-these-tests"
KEY = PiiKey(SECRET.encode())


def token(value: str, secret: str = SECRET) -> str:
    """An independent computation of a token: HMAC-SHA256 of the trimmed value, lowercase hex."""
    return hmac.new(secret.encode(), value.strip().encode(), hashlib.sha256).hexdigest()


def ingest(tmp_path: Path, files: dict[str, bytes], key: PiiKey | None = KEY) -> dict[str, pl.DataFrame]:
    folder = tmp_path / "landing" / "trades" / f"date={DAY}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    spill = Spill(tmp_path / "scratch", SCHEMAS)
    files = list_landing_files(str(tmp_path / "landing"), DAY)
    ingest_day(files, pl.DataFrame(), DAY, now=datetime.now(UTC), run_id="t", spill=spill, pii_key=key)
    out = {name: spill.result(name) for name in (RAW_TRADES, VALIDATED_TRADES, TRADES_DLQ)}
    return {name: f.collect() if isinstance(f, pl.LazyFrame) else f for name, f in out.items()}


def parquet(columns: dict[str, list]) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame(columns).write_parquet(buffer)
    return buffer.getvalue()


TRADE = {"symbol": "BTC", "side": "buy", "price": "1.5", "quantity": "2", "timestamp": TS, "exchange": "X"}
EVERY_FORMAT = {
    # Names are matched case-insensitively after trimming, as the trade fields are.
    "a.csv": (
        "trade_id,symbol,side,price,quantity,timestamp,exchange, Account_ID ,TRADER_ID\n"
        f"C1,BTC,buy,1.5,2,{TS},X,  ACC-1  ,TRD-1\n"
        f"C2,BTC,buy,1.5,2,{TS},X,ACC-2,\n"
    ).encode(),
    "b.jsonl.gz": gzip.compress(
        "\n".join(
            json.dumps({"trade_id": tid, **TRADE, **ids})
            for tid, ids in [("J1", {"ACCOUNT_ID": "ACC-1", "trader_id": 4711}), ("J2", {})]
        ).encode()
    ),
    "c.parquet": parquet(
        {"trade_id": ["P1", "P2"], **{k: [v, v] for k, v in TRADE.items()}, " Account_Id": ["ACC-2", None]}
    ),
}


def test_a_token_is_the_hmac_sha256_of_the_trimmed_value_and_the_same_value_gives_the_same_token():
    tokens = KEY.tokens(pl.Series(["ACC-1", None, "ACC-2", "ACC-1"]))
    assert tokens.to_list() == [token("ACC-1"), None, token("ACC-2"), token("ACC-1")]


def test_identifying_columns_of_every_format_are_kept_as_received_in_raw_and_tokens_in_validated(tmp_path):
    out = ingest(tmp_path, EVERY_FORMAT)
    raw = out[RAW_TRADES].sort("trade_id")
    assert raw.select("trade_id", "account_id", "trader_id").rows() == [
        ("C1", "  ACC-1  ", "TRD-1"),
        ("C2", "ACC-2", None),
        ("J1", "ACC-1", "4711"),
        ("J2", None, None),  # absent columns are null
        ("P1", "ACC-2", None),
        ("P2", None, None),
    ]
    validated = out[VALIDATED_TRADES].sort("trade_id")
    assert validated.select("trade_id", "account_id", "trader_id").rows() == [
        ("C1", token("ACC-1"), token("TRD-1")),
        ("C2", token("ACC-2"), None),
        ("J1", token("ACC-1"), token("4711")),
        ("J2", None, None),
        ("P1", token("ACC-2"), None),
        ("P2", None, None),
    ]
    assert out[TRADES_DLQ].is_empty()


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [("account_id", "acct 7", "invalid_account_id"), ("trader_id", "-T9", "invalid_trader_id")],
)
def test_a_malformed_id_is_dead_lettered_with_its_code_and_a_blank_one_is_absent(
    tmp_path, column, value, code
):
    header = "trade_id,symbol,side,price,quantity,timestamp,exchange,account_id,trader_id"
    bad = f"BAD,BTC,buy,1.5,2,{TS},X," + ("acct 7," if column == "account_id" else ",-T9")
    blank = f"BLANK,BTC,buy,1.5,2,{TS},X,  ,  "
    out = ingest(tmp_path, {"t.csv": f"{header}\n{bad}\n{blank}\n".encode()})
    [entry] = out[TRADES_DLQ].iter_rows(named=True)
    assert (entry["trade_id"], entry["error_codes"], entry["raw_record"]) == ("BAD", [code], bad)
    assert f"{column} '{value}'" in entry["error"]
    assert out[VALIDATED_TRADES].select("trade_id", "account_id", "trader_id").rows() == [
        ("BLANK", None, None)
    ]


def test_without_a_key_identifying_values_fail_the_day_and_records_without_them_need_none(tmp_path):
    with pytest.raises(MissingPiiKeyError, match="account_id, trader_id") as failure:
        ingest(tmp_path / "with", {"a.csv": EVERY_FORMAT["a.csv"]}, key=None)
    assert "ACC-" not in str(failure.value) and "TRD-" not in str(failure.value)
    header = "trade_id,symbol,side,price,quantity,timestamp,exchange,account_id"
    out = ingest(tmp_path / "without", {"a.csv": f"{header}\nN1,BTC,buy,1.5,2,{TS},X, \n".encode()}, key=None)
    assert out[VALIDATED_TRADES]["trade_id"].to_list() == ["N1"]


def test_the_key_is_the_variable_trimmed_or_the_file_less_one_trailing_line_break(tmp_path):
    assert Settings.from_env({"TRADE_PLATFORM_PII_KEY": f"  {SECRET}\n"}).pii_key == KEY
    for ending in ("", "\n", "\r\n"):
        (tmp_path / "key").write_bytes(SECRET.encode() + ending.encode())
        assert Settings.from_env({"TRADE_PLATFORM_PII_KEY_FILE": str(tmp_path / "key")}).pii_key == KEY
    (tmp_path / "key").write_bytes(f" {SECRET}\n\n".encode())  # only one line break is removed
    assert Settings.from_env({"TRADE_PLATFORM_PII_KEY_FILE": str(tmp_path / "key")}).pii_key == PiiKey(
        f" {SECRET}\n".encode()
    )
    assert Settings().pii_key is None


def test_the_development_key_is_taken_only_when_asked_and_no_key_is_set(tmp_path):
    development = "TRADE_PLATFORM_PII_DEVELOPMENT_KEY"
    assert Settings.from_env({development: "true"}).pii_key == PiiKey(DEVELOPMENT_KEY)
    assert Settings.from_env({development: "false"}).pii_key is None
    assert Settings.from_env({development: "true", "TRADE_PLATFORM_PII_KEY": SECRET}).pii_key == KEY
    (tmp_path / "key").write_text(SECRET)
    assert (
        Settings.from_env({development: "1", "TRADE_PLATFORM_PII_KEY_FILE": str(tmp_path / "key")}).pii_key
        == KEY
    )
    with pytest.raises(ValueError, match=f"{development}: must be true or false"):
        Settings.from_env({development: "please"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TRADE_PLATFORM_PII_KEY": "short-secret"}, "TRADE_PLATFORM_PII_KEY: .* at least 32 bytes, got 12"),
        ({"TRADE_PLATFORM_PII_KEY_FILE": "/nonexistent/key"}, "TRADE_PLATFORM_PII_KEY_FILE: cannot read"),
        (
            {"TRADE_PLATFORM_PII_KEY": SECRET, "TRADE_PLATFORM_PII_KEY_FILE": "/run/secrets/key"},
            "set TRADE_PLATFORM_PII_KEY or TRADE_PLATFORM_PII_KEY_FILE, not both",
        ),
    ],
)
def test_a_bad_key_setting_is_an_error_naming_its_variable_never_the_key(environ, message):
    with pytest.raises(ValueError, match=message) as error:
        Settings.from_env(environ)
    assert "short-secret" not in str(error.value) and SECRET not in str(error.value)


def test_neither_the_settings_nor_the_key_show_the_key():
    settings = Settings.from_env({"TRADE_PLATFORM_PII_KEY": SECRET})
    assert SECRET not in repr(settings) and SECRET not in str(settings.pii_key)


def test_the_generator_emits_accounts_and_traders_in_every_format_deterministically(tmp_path):
    generated = generate_day(date.fromisoformat(DAY), 2_000, seed=5, bad_fraction=0.2)
    assert generated.records.equals(
        generate_day(date.fromisoformat(DAY), 2_000, seed=5, bad_fraction=0.2).records
    )
    records = generated.records
    assert 100 <= records["account_id"].n_unique() and 50 <= records["trader_id"].n_unique() <= 300
    assert {"invalid_account_id", "invalid_trader_id"} <= set(records["fault"].drop_nulls())
    for file_format in FORMATS:
        path = tmp_path / f"t.{file_format}"
        path.write_bytes(render(records.filter(pl.col("format") == file_format), file_format))
        landed = pl.concat(iter_landing_file(LandingFile(str(path), path.name, 0)))
        assert landed["account_id"].drop_nulls().len() > 0 and landed["trader_id"].drop_nulls().len() > 0
    without = generate_day(date.fromisoformat(DAY), 2_000, seed=5, bad_fraction=0.2, identities=False)
    assert "account_id" not in without.records.columns


def test_a_correction_can_fix_a_malformed_id():
    raw = pl.DataFrame(
        {"_source_file": ["f.csv"], "_source_row": [2], "account_id": ["acct 7"], "_parse_error": [None]},
        schema_overrides={"_parse_error": pl.String},
    )
    corrections = pl.DataFrame({"source_file": ["f.csv"], "source_row": ["2"], "account_id": [" ACC-7 "]})
    fixed, matched = apply_corrections(raw, corrections)
    assert (fixed["account_id"].to_list(), matched) == (["ACC-7"], 1)
