"""Console helpers shared by every command: progress bars, one-line errors."""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

console = Console(stderr=True, emoji=False)   # ":x:" in a path or an address stays as typed
out = Console(emoji=False)


def fail(message: str, code: int = 2) -> "typer.Exit":
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(message))}", highlight=False, soft_wrap=True)  # one line
    raise typer.Exit(code)


def notice(message: str) -> None:
    from rich.markup import escape

    console.print(f"[yellow]{escape(str(message))}[/]", highlight=False, soft_wrap=True)


class _Notices(logging.Handler):
    """The library's messages (the "facesets" logger) as yellow notices on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        notice(record.getMessage())


def attach_logging() -> None:
    """Show the library's notices (INFO and up) on the console, once."""
    logger = logging.getLogger("facesets")
    if not any(isinstance(h, _Notices) for h in logger.handlers):
        logger.addHandler(_Notices())
    logger.setLevel(logging.INFO)
    logger.propagate = False


STATE_PHASES = ("workers alive",)  # bars that show how many of something there are now, not a rate


class _Rate(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):  # items per second, on every long step
        from rich.text import Text

        if not task.fields.get("rate", True):
            return Text("")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "", style="progress.data.speed")


@contextlib.contextmanager
def progress_bars(enabled: bool = True) -> Iterator:
    """Yields a hook(phase, advance, total) that drives one Rich bar per phase."""
    if not enabled:
        yield None
        return
    bars = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), _Rate(), TimeElapsedColumn(), TextColumn("eta"),
                    TimeRemainingColumn(), console=console, transient=False,
                    disable=not sys.stderr.isatty() and False)
    tasks: dict[str, int] = {}

    def hook(phase: str, advance: int, total: int | None) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(phase, total=total, rate=phase not in STATE_PHASES)
        elif total is not None:
            bars.update(tasks[phase], total=total)
        if advance:
            bars.advance(tasks[phase], advance)

    with bars:
        yield hook
