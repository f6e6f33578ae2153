"""The batch's progress bar (rich, on stderr), shown only when stderr is a terminal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiml_agent.batch.result import BatchTotals


class Progress:
    """A live bar: items done of the total, ok and failed, the concurrency now, tokens, cost, time left.

    :param total: The number of inputs, when known (else the bar only counts).
    :param concurrency: Says what the concurrency is right now (e.g. ``"auto 14"``).
    """

    def __init__(self, total: int | None, concurrency: Callable[[], str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._concurrency = concurrency
        self._bar = RichProgress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[details]}", style="dim"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            refresh_per_second=4,
        )
        self._task = self._bar.add_task("batch", total=total, ok=0, failed=0, details="")
        self._bar.start()

    def update(self, totals: BatchTotals) -> None:
        details = [f"concurrency {self._concurrency()}"]
        if totals.usage.total_tokens:
            details.append(f"{totals.usage.total_tokens:,} tokens")
        if totals.usage.usd_spent is not None:
            details.append(f"${totals.usage.usd_spent:.4f}")
        self._bar.update(
            self._task, completed=totals.items, ok=totals.ok, failed=totals.error, details=" · ".join(details)
        )

    def close(self) -> None:
        self._bar.stop()


def progress_bar(show: bool, total: Callable[[], int | None], concurrency: Callable[[], str]) -> Progress | None:
    """A :class:`Progress` when ``show`` is true and stderr is a terminal, else None (silent)."""
    if not show or not _stderr_is_terminal():
        return None
    return Progress(total(), concurrency)


def _stderr_is_terminal() -> bool:
    from rich.console import Console

    console: Any = Console(stderr=True)
    return bool(console.is_terminal) and not console.is_dumb_terminal
