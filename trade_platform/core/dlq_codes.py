"""The dead-letter vocabulary: every reason a record can be rejected, in canonical order.

The string values are a public contract (DLQ consumers and acceptance tests filter on them).
"""

from __future__ import annotations

from enum import StrEnum


class DlqCode(StrEnum):
    MALFORMED_RECORD = "malformed_record"
    MISSING_FIELD = "missing_field"
    INVALID_TRADE_ID = "invalid_trade_id"
    INVALID_SYMBOL = "invalid_symbol"
    INVALID_SIDE = "invalid_side"
    INVALID_PRICE = "invalid_price"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_NOTIONAL = "invalid_notional"
    INVALID_TIMESTAMP = "invalid_timestamp"
    TIMESTAMP_NO_TIMEZONE = "timestamp_no_timezone"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_OUTSIDE_PARTITION = "timestamp_outside_partition"
    INVALID_EXCHANGE = "invalid_exchange"
    INVALID_ACCOUNT_ID = "invalid_account_id"
    INVALID_TRADER_ID = "invalid_trader_id"
    DUPLICATE_TRADE_ID = "duplicate_trade_id"
    UNREADABLE_FILE = "unreadable_file"


ALL_CODES: tuple[str, ...] = tuple(code.value for code in DlqCode)
