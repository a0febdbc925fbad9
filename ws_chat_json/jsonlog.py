"""Supplied: not part of the lesson, read it if you are curious.

The chat's log: a JSON array on disk, one record per line, that only ever grows at its end and
survives `kill -9` of the server.

    with JsonLog(Path("messages.json")) as log:   # continues a log from an earlier run
        log.append({"client_id": "Client_1", "message": "hi"})   # valid JSON again on return

The obvious way (json.load the list, append, json.dump it all again) reads and writes the
whole file for every message: a million records means a million records rewritten per
message. Here the file always ends with the line `]`, and an append overwrites that line with
`,` + the new record + `]`: one write() of a few hundred bytes, whatever the size of the file,
and the file is a valid JSON array again as soon as it returns. A server killed in the middle
of a write leaves an unfinished last line; the next start drops it and keeps every complete
record.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any


class JsonLog:
    """A JSON array on disk, one record per line, that grows at the end only."""

    TAIL = b"\n]\n"
    TAIL_WINDOW = 1024 * 1024  # more than the longest record line (a 64 KiB message, escaped)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0  # appended by this run
        self.file = None  # opened by the first append when the file does not exist yet
        self.end: int | None = None  # where the next record goes; None: write the `[` first
        if path.exists():
            self.open()
            self.end = self.find_end()
        elif not path.parent.is_dir():
            raise FileNotFoundError(f"no such directory: {path.parent}")

    def __enter__(self) -> JsonLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        # buffering=0: every write() goes straight to the operating system. Once it returns,
        # the bytes are in the kernel and `kill -9` of this process cannot lose them (a power
        # cut could; os.fsync() would cover that at a cost of milliseconds per message).
        self.file = open(self.path, "r+b" if self.path.exists() else "w+b", buffering=0)  # noqa: SIM115

    def find_end(self) -> int | None:
        """Find where the last record ends, repairing a tail torn by a crash mid-write."""
        assert self.file is not None
        size = self.file.seek(0, os.SEEK_END)
        base = max(0, size - self.TAIL_WINDOW)
        self.file.seek(base)
        tail = self.file.read()
        if base > 0:  # start at a line boundary
            skip = tail.find(b"\n") + 1
            base, tail = base + skip, tail[skip:]
        lines = tail.rstrip().split(b"\n")
        if base == 0 and not tail.strip():
            return None  # an empty file: the first append writes the opening `[`
        if lines[-1].strip() == b"]":
            # A healthy log from an earlier run: continue after its last value. A record is
            # always one line, so a write torn halfway can never leave a line that is just `]`.
            before = tail.rstrip()[:-1].rstrip()
            return None if base == 0 and before.strip() == b"[" else base + len(before)
        # The last write stopped halfway (the process was killed, the disk filled up). Drop
        # the unfinished line and keep every complete record before it.
        if base == 0 and not tail.lstrip().startswith(b"["):
            raise ValueError("it is not a JSON array")
        starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=base))
        for line, start in zip(reversed(lines), reversed(starts[:-1]), strict=True):
            # A write that stopped after its first byte leaves `{...},]`: the `,` landed on the
            # newline before the old `]`. A record line always ends in `}`, so strip a `]`
            # and then the `,` to get the complete record back.
            record = line.rstrip().rstrip(b"]").rstrip().rstrip(b",")
            if record.strip() == b"[":
                cut = None
                break
            try:
                if isinstance(json.loads(record), dict):
                    cut = start + len(record)
                    break
            except ValueError:
                continue
        else:
            raise ValueError("its end is not a record this server wrote; move it away")
        if cut is None:
            self.file.truncate(0)
        else:
            self.file.seek(cut)
            self.file.write(self.TAIL)
            self.file.truncate(cut + len(self.TAIL))
        print(f"Repaired {self.path}: dropped an unfinished record at its end.", flush=True)
        return cut

    def append(self, record: dict[str, Any]) -> None:
        """Add one record; on return it is in the file, and the file is valid JSON again."""
        line = json.dumps(record, ensure_ascii=False).encode("utf-8")
        if self.file is None:
            self.open()
        assert self.file is not None
        if self.end is None:
            data, where = b"[\n" + line + self.TAIL, 0
        else:
            data, where = b",\n" + line + self.TAIL, self.end
        self.file.seek(where)
        written = 0
        while written < len(data):
            written += self.file.write(data[written:])
        if self.end is None:
            self.file.truncate(len(data))  # an old `[ ]` with much whitespace
        self.end = where + len(data) - len(self.TAIL)
        self.records += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
