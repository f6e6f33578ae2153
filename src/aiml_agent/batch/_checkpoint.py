"""The checkpoint: a JSONL file with one line per finished item, appended and flushed the moment it finishes.

Lines are in the order items finished; each carries its ``index`` (position in the inputs) and ``id``. A process
killed mid-write leaves at most one partial last line, which the next run cuts off before appending. When an id
appears more than once (an item run again with ``retry_errors``), its last line counts.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from aiml_agent.batch.result import BatchItem


class Checkpoint:
    """Reads the outcomes a checkpoint already holds, then appends new ones.

    :param path: The JSONL file (created when missing, with its folder).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def finished(self, *, keep_items: bool, retry_errors: bool) -> dict[str, BatchItem]:
        """The ids that need not run again, each with its item (or, not keeping items, a stand-in for it).

        :param keep_items: Keep each item (to report it again); else only its status and exit reason, shared
            between items (memory: the ids and one pointer each).
        :param retry_errors: Leave out the ids whose last outcome is an error, so that they run again.
        :raises ValueError: When a line other than a cut-off last one is not a batch result.
        """
        found: dict[str, BatchItem] = {}
        outlines: dict[tuple[str, str | None], BatchItem] = {}
        for item in self._read():
            if retry_errors and not item.ok:
                found.pop(item.id, None)
            elif keep_items:
                found[item.id] = item
            else:
                key = (item.status, item.exit_reason)
                found[item.id] = outlines.setdefault(key, BatchItem("", -1, item.status, exit_reason=item.exit_reason))
        return found

    def _read(self) -> Iterator[BatchItem]:
        if not self.path.is_file():
            return
        with self.path.open("rb") as file:
            for number, line in enumerate(file, start=1):
                if not line.endswith(b"\n"):
                    return  # a write cut off by a kill: cut away by open()
                if not line.strip():
                    continue
                try:
                    yield BatchItem.from_dict(json.loads(line))
                except (ValueError, AttributeError) as error:
                    raise ValueError(
                        f"{self.path} line {number} is not a batch result ({error}); "
                        "is it the checkpoint of a batch run?"
                    ) from None

    def open(self) -> None:
        """Open for appending, first cutting off a partial last line left by a killed process."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_partial_line(self.path)
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, item: BatchItem) -> None:
        """Append one item's line and flush it to the operating system (it survives a kill of the process)."""
        assert self._file is not None, "Checkpoint.open() first"
        self._file.write(json.dumps(item.to_dict(), ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _cut_partial_line(path: Path) -> None:
    if not path.is_file():
        return
    with path.open("rb+") as file:
        size = file.seek(0, os.SEEK_END)
        if size == 0:
            return
        file.seek(size - 1)
        if file.read(1) == b"\n":
            return
        end = size
        while end > 0:  # back to the last newline; partial lines are short, so this reads little
            start = max(0, end - 4096)
            file.seek(start)
            cut = file.read(end - start).rfind(b"\n")
            if cut >= 0:
                file.truncate(start + cut + 1)
                return
            end = start
        file.truncate(0)


def sort_by_index(path: str | os.PathLike[str]) -> None:
    """Rewrite a checkpoint in input order, one line per index (the last one written for it).

    Memory holds one file offset per input (8 bytes), never the lines; the file is replaced atomically.
    """
    path = Path(path)
    offsets = array("q")
    with path.open("rb") as file:
        offset = 0
        for line in file:
            if line.strip():
                index = int(json.loads(line)["index"])
                if index >= len(offsets):
                    offsets.extend([-1] * (index + 1 - len(offsets)))
                offsets[index] = offset
            offset += len(line)
    temporary = path.with_name(path.name + ".sorting")
    with path.open("rb") as source, temporary.open("wb") as target:
        for offset in offsets:
            if offset >= 0:
                source.seek(offset)
                target.write(source.readline())
    os.replace(temporary, path)
