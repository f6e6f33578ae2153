"""What a batch run gives back: one :class:`BatchItem` per input, :class:`BatchTotals`, and the :class:`BatchResult`.

Plain data: an item is written to the checkpoint as one JSON line (:meth:`BatchItem.to_dict`) and read back
from it (:meth:`BatchItem.from_dict`), so a resumed batch reports the items of earlier runs like its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiml_agent.run_result import Usage

ItemStatus = Literal["ok", "error"]
StopReason = Literal["out_of_credits", "unauthorized", "rate_limited", "interrupted"]


@dataclass
class BatchItem:
    """The outcome of one input.

    :param id: The input's ``id``, or its position in the inputs (``"0"``, ``"1"``, ...) when it had none.
    :param index: Its position in the inputs (0-based).
    :param status: ``"ok"`` when the agent run finished (whatever its exit reason), ``"error"`` when it raised.
    :param text: The text of the run's last message.
    :param output: The validated answer when the Agent has an ``output_type`` (a dict when read back from a
        checkpoint by code that does not know the type).
    :param exit_reason: Why the run ended (``"text"``, ``"max_steps"``, a tool name, ...); None for an error.
    :param usage: Requests, tokens and cost of the item, also those spent before an error.
    :param error: What went wrong (``"AIMLAPIError: ..."``), for an error.
    :param retries: Model requests sent again after a 429, a 5xx, a timeout or a broken connection.
    :param duration: Seconds from the item's start to its end, retries included.
    """

    id: str
    index: int
    status: ItemStatus
    text: str | None = None
    output: Any = None
    exit_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    retries: int = 0
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the agent run finished."""
        return self.status == "ok"

    @property
    def cost(self) -> dict[str, float] | None:
        """AIMLAPI's cost of the item (``credits_used``, ``usd_spent``), or None when the server reported none."""
        return self.usage.cost

    def to_dict(self) -> dict[str, Any]:
        """One JSON-friendly line of the checkpoint (a pydantic ``output`` as its JSON data)."""
        usage = self.usage.to_dict()
        usage.pop("cost", None)
        return {
            "id": self.id,
            "index": self.index,
            "status": self.status,
            "text": self.text,
            "output": _json_data(self.output),
            "exit_reason": self.exit_reason,
            "usage": usage,
            "cost": self.cost,
            "error": self.error,
            "retries": self.retries,
            "duration": round(self.duration, 6),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchItem:
        """Read an item back from :meth:`to_dict` data; raises ValueError when it is not one."""
        try:
            status = data["status"]
            if status not in ("ok", "error"):
                raise ValueError(f"status must be 'ok' or 'error', got {status!r}")
            return cls(
                id=str(data["id"]),
                index=int(data["index"]),
                status=status,
                text=data.get("text"),
                output=data.get("output"),
                exit_reason=data.get("exit_reason"),
                usage=_usage(data.get("usage") or {}, data.get("cost") or {}),
                error=data.get("error"),
                retries=int(data.get("retries") or 0),
                duration=float(data.get("duration") or 0.0),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a batch result: {error}") from None


@dataclass
class BatchTotals:
    """Sums over a batch: counts over every input with an outcome (those resumed from the checkpoint too);
    usage, retries and time of this run's work only (a resumed item cost nothing this time).

    :param items: Inputs with an outcome (``ok + error``).
    :param ok: Items whose agent run finished.
    :param error: Items that failed.
    :param resumed: Items whose outcome was read from the checkpoint instead of being run again.
    :param exit_reasons: How many finished runs ended for each exit reason.
    :param usage: Requests, tokens and cost spent by this run.
    :param retries: Model requests this run sent again (after 429s, 5xx answers, timeouts).
    :param wall_time: Seconds this run took.
    """

    items: int = 0
    ok: int = 0
    error: int = 0
    resumed: int = 0
    exit_reasons: dict[str, int] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    retries: int = 0
    wall_time: float = 0.0

    @property
    def cost(self) -> dict[str, float] | None:
        """AIMLAPI's cost of all items, or None when the server reported none."""
        return self.usage.cost

    def add(self, item: BatchItem, *, resumed: bool = False) -> None:
        """Count one item in."""
        self.items += 1
        self.resumed += int(resumed)
        if item.ok:
            self.ok += 1
            reason = item.exit_reason or "unknown"
            self.exit_reasons[reason] = self.exit_reasons.get(reason, 0) + 1
        else:
            self.error += 1
        if not resumed:
            self.usage += item.usage
            self.retries += item.retries

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form."""
        return {
            "items": self.items,
            "ok": self.ok,
            "error": self.error,
            "resumed": self.resumed,
            "exit_reasons": dict(self.exit_reasons),
            "usage": self.usage.to_dict(),
            "retries": self.retries,
            "wall_time": round(self.wall_time, 3),
        }


@dataclass
class BatchResult:
    """A batch run's outcome.

    :param items: One item per input that has an outcome, in input order (empty with ``keep_items=False``:
        the checkpoint holds them).
    :param totals: Counts, exit reasons, tokens, cost and wall time.
    :param stopped: Why the batch stopped before every input had an outcome: ``"out_of_credits"`` (HTTP 403),
        ``"unauthorized"`` (HTTP 401 or no key), ``"rate_limited"`` (only 429s for a long time) or
        ``"interrupted"``; None when it went through. A rerun with the same checkpoint resumes.
    :param stop_message: The error that stopped it, in words.
    :param checkpoint: The checkpoint file, when there is one.
    """

    items: list[BatchItem]
    totals: BatchTotals
    stopped: StopReason | None = None
    stop_message: str | None = None
    checkpoint: Path | None = None

    @property
    def complete(self) -> bool:
        """Whether every input has an outcome (``ok`` or ``error``)."""
        return self.stopped is None

    @property
    def failed(self) -> list[BatchItem]:
        """The items with status ``"error"``, in input order."""
        return [item for item in self.items if not item.ok]


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`~aiml_agent.batch.run_batch`: a KeyboardInterrupt that carries what finished.

    :param result: The items finished so far, in input order (also in the checkpoint, when there is one).
    """

    def __init__(self, result: BatchResult) -> None:
        super().__init__(f"batch interrupted after {result.totals.items} items")
        self.result = result


def _json_data(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _usage(tokens: Mapping[str, Any], cost: Mapping[str, Any]) -> Usage:
    return Usage(
        requests=int(tokens.get("requests") or 0),
        prompt_tokens=int(tokens.get("prompt_tokens") or 0),
        completion_tokens=int(tokens.get("completion_tokens") or 0),
        total_tokens=int(tokens.get("total_tokens") or 0),
        credits_used=cost.get("credits_used"),
        usd_spent=cost.get("usd_spent"),
    )
