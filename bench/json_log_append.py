#!/usr/bin/env python3
"""Cost of one append to ws_chat_json's JSON log with 10^3 and with 10^6 records in it.

The log keeps the file a valid JSON array by overwriting its closing `]` with `,<record>]`,
so an append should cost the same however long the file is (target: ratio below 1.5). For
contrast, the obvious way - json.load the list, append, json.dump it all - is timed on small
files, where it already grows with the length. Files live in a temporary directory.

    uv run python bench/json_log_append.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

JSONLOG = Path(__file__).resolve().parent.parent / "ws_chat_json" / "jsonlog.py"
RECORD = {
    "time": "2024-01-01T12:00:00.000+00:00",
    "client_id": "Client_1",
    "message": "Привет, สวัสดี, hello 👋",
    "sender": "client",
}


def load_json_log_class():
    spec = importlib.util.spec_from_file_location("ws_chat_json_jsonlog", JSONLOG)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.JsonLog


def make_log(path: Path, records: int) -> None:
    """A log of `records` records, written in one go (as the server would have left it)."""
    line = json.dumps(RECORD, ensure_ascii=False).encode("utf-8")
    with path.open("wb") as file:
        file.write(b"[\n")
        chunk = b",\n".join([line] * 10_000)
        for done in range(0, records, 10_000):
            if done:
                file.write(b",\n")
            count = min(10_000, records - done)
            file.write(chunk if count == 10_000 else b",\n".join([line] * count))
        file.write(b"\n]\n")


def time_appends(json_log_class, path: Path, appends: int) -> float:
    log = json_log_class(path)
    started = time.perf_counter()
    for n in range(appends):
        log.append({**RECORD, "message": f"bench {n}"})
    elapsed = time.perf_counter() - started
    log.close()
    return elapsed / appends


def time_naive(path: Path, appends: int) -> float:
    started = time.perf_counter()
    for n in range(appends):
        with path.open(encoding="utf-8") as file:
            records = json.load(file)
        records.append({**RECORD, "message": f"bench {n}"})
        with path.open("w", encoding="utf-8") as file:
            json.dump(records, file, ensure_ascii=False)
    return (time.perf_counter() - started) / appends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=5000, help="appends timed per size")
    args = parser.parse_args()
    json_log_class = load_json_log_class()

    with tempfile.TemporaryDirectory() as tmp:
        costs = {}
        for records in (10**3, 10**6):
            path = Path(tmp) / f"log-{records}.json"
            make_log(path, records)
            costs[records] = time_appends(json_log_class, path, args.appends)
            print(f"append-only log, {records:>9,} records: {costs[records] * 1e6:8.1f} µs/append")
            if records <= 10**3:
                assert len(json.loads(path.read_text("utf-8"))) == records + args.appends
            path.unlink()
        print(f"ratio 10^6 / 10^3: {costs[10**6] / costs[10**3]:.2f} (target below 1.5)")

        for records in (10**3, 10**4):
            path = Path(tmp) / f"naive-{records}.json"
            make_log(path, records)
            cost = time_naive(path, 20)
            print(f"naive rewrite,   {records:>9,} records: {cost * 1e6:8.1f} µs/append")


if __name__ == "__main__":
    main()
