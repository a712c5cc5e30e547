"""The quickstart schemas: Confluent's field names, types and value ranges, in Avro form.

Each entry is an Avro record schema whose fields carry ``arg.properties`` the way the
Avro random generator reads them (``range`` min ≤ x < max, ``options``, ``regex``,
``iteration`` start/step), plus the key field Confluent's connector uses for it.
"""

from __future__ import annotations

from typing import Any

_TIME_RANGE: dict[str, Any] = {"range": {"min": 1487715775521, "max": 1519273364600}}


def _f(name: str, type_: str | dict[str, Any], doc: str | None = None, **props: Any) -> dict[str, Any]:
    t: dict[str, Any] = {"type": type_} if isinstance(type_, str) else dict(type_)
    if props:
        t["arg.properties"] = props
    out: dict[str, Any] = {"name": name, "type": t}
    if doc is not None:
        out["doc"] = doc
    return out


USERS = {
    "namespace": "ksql",
    "name": "users",
    "type": "record",
    "fields": [
        _f("registertime", "long", range=_TIME_RANGE["range"]),
        _f("userid", "string", regex="User_[1-9]"),
        _f("regionid", "string", regex="Region_[1-9]"),
        _f("gender", "string", options=["MALE", "FEMALE", "OTHER"]),
    ],
}

PAGEVIEWS = {
    "namespace": "ksql",
    "name": "pageviews",
    "type": "record",
    "fields": [
        _f("viewtime", "long", iteration={"start": 1, "step": 10}),
        _f("userid", "string", regex="User_[1-9]"),
        _f("pageid", "string", regex="Page_[1-9][0-9]"),
    ],
}

ORDERS = {
    "namespace": "ksql",
    "name": "orders",
    "type": "record",
    "fields": [
        _f("ordertime", "long", range=_TIME_RANGE["range"]),
        _f("orderid", "int", iteration={"start": 0}),
        _f("itemid", "string", regex="Item_[1-9][0-9]{0,2}"),
        _f("orderunits", "double", range={"min": 0.1, "max": 10.0}),
        {
            "name": "address",
            "type": {
                "name": "address",
                "type": "record",
                "fields": [
                    _f("city", "string", regex="City_[1-9]{0,2}"),
                    _f("state", "string", regex="State_[1-9]{0,2}"),
                    _f("zipcode", "long", range={"min": 10000, "max": 99999}),
                ],
            },
        },
    ],
}

RATINGS = {
    "namespace": "ksql",
    "name": "ratings",
    "type": "record",
    "fields": [
        _f("rating_id", "long", iteration={"start": 1}),
        _f("user_id", "int", range={"min": -1, "max": 20}),
        _f("stars", "int", range={"min": 1, "max": 5}),
        _f("route_id", "int", range={"min": 1, "max": 9999}),
        _f("rating_time", "long", iteration={"start": 1, "step": 12}),
        _f("channel", "string", options=["web", "iOS", "ios", "iOS-test", "android"]),
        _f(
            "message",
            "string",
            options=[
                "worst. flight. ever. #neveragain",
                "Surprisingly good, maybe you are getting your mojo back at long last!",
                "Exceeded all my expectations. Thank you !",
                "meh",
                "(expletive deleted)",
                "is this as good as it gets? really ?",
                "airport refurb looks great, will fly outta here more!",
                "why is it so difficult to keep the bathrooms clean ?",
                "thank you for the most friendly, helpful experience today at your new lounge",
                "more peanuts please",
                "your team here rocks!",
            ],
        ),
    ],
}

STOCK_TRADES = {
    "namespace": "ksql",
    "name": "StockTrade",
    "doc": "Defines a hypothetical stock trade using some known test stock symbols.",
    "type": "record",
    "fields": [
        _f("side", "string", "A simulated trade side (buy or sell or short)", options=["BUY", "SELL"]),
        _f("quantity", "int", "A simulated random quantity of the trade", range={"min": 1, "max": 5000}),
        _f(
            "symbol",
            "string",
            "Simulated stock symbols",
            options=["ZBZX", "ZJZZT", "ZTEST", "ZVV", "ZVZZT", "ZWZZT", "ZXZZT"],
        ),
        _f("price", "int", "A simulated random trade price in pennies", range={"min": 5, "max": 1000}),
        _f(
            "account",
            "string",
            "Simulated accounts assigned to the trade",
            options=["ABC123", "LMN456", "XYZ789"],
        ),
        _f("userid", "string", "The simulated user who executed the trade", regex="User_[1-9]"),
    ],
}

TRANSACTIONS = {
    "namespace": "datagen.example",
    "name": "transactions",
    "type": "record",
    "fields": [
        _f("transaction_id", "long", iteration={"start": 1}),
        _f("card_id", "long", range={"min": 1, "max": 24}),
        _f("user_id", "string", regex="User_[1-9]{0,1}"),
        _f("purchase_id", "long", iteration={"start": 0}),
        _f("store_id", "int", range={"min": 1, "max": 7}),
    ],
}

_IPS = [
    f"{a}.{b}"
    for a in ("111", "222", "122", "233")
    for b in (
        "152.45.45",
        "203.236.146",
        "168.57.122",
        "249.79.93",
        "168.57.122",
        "90.225.227",
        "173.165.103",
        "145.8.144",
        "245.174.248",
        "245.174.111",
    )
]

CLICKSTREAM = {
    "namespace": "clickstream",
    "name": "events",
    "type": "record",
    "fields": [
        _f("ip", "string", options=_IPS),
        _f("userid", "int", range={"min": -1, "max": 40}),
        _f("remote_user", "string", options=["-"]),
        _f("time", "string", iteration={"start": 1, "step": 10}),
        _f("_time", "long", iteration={"start": 1, "step": 10}),
        _f(
            "request",
            "string",
            options=[
                "GET /index.html HTTP/1.1",
                "GET /site/user_status.html HTTP/1.1",
                "GET /site/login.html HTTP/1.1",
                "GET /site/user_status.html HTTP/1.1",
                "GET /images/track.png HTTP/1.1",
                "GET /images/logo-small.png HTTP/1.1",
            ],
        ),
        _f("status", "string", options=["200", "302", "404", "405", "406", "407"]),
        _f("bytes", "string", options=["278", "1289", "2048", "4096", "4006", "4196", "14096"]),
        _f("referrer", "string", options=["-"]),
        _f(
            "agent",
            "string",
            options=[
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/59.0.3071.115 Safari/537.36",
            ],
        ),
    ],
}

QUICKSTARTS: dict[str, tuple[dict[str, Any], str]] = {
    "users": (USERS, "userid"),
    "pageviews": (PAGEVIEWS, "viewtime"),
    "orders": (ORDERS, "orderid"),
    "ratings": (RATINGS, "rating_id"),
    "stock_trades": (STOCK_TRADES, "symbol"),
    "transactions": (TRANSACTIONS, "transaction_id"),
    "clickstream": (CLICKSTREAM, "ip"),
}
"""quickstart name → (schema, key field), as Confluent's ``Quickstart`` enum pairs them."""
