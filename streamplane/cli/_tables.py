"""Tables for people that never cut a name short.

A topic, principal or ACL resource is only useful whole: an operator copies it into the
next command. So every column folds (wraps, and breaks a long name across lines inside
its cell) instead of ending in an ellipsis, the table fits the terminal it is shown in,
and when the output is not a terminal (a pipe, a file, ``less``, ``grep``) the table is
as wide as its longest row: rich would otherwise assume 80 columns and squeeze it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

#: Width given to a table printed to a pipe or a file: wide enough for any row, so it is
#: never folded there (a table does not expand, so it stays as wide as its content).
UNLIMITED_WIDTH = 100_000


def new_table(title: str | None, columns: Iterable[str], *, right: Iterable[str] = ()) -> Table:
    """A table whose cells fold rather than truncate; ``right`` names numeric columns."""
    numeric = set(right)
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(
            column,
            overflow="fold",
            no_wrap=False,
            justify="right" if column in numeric else "left",
        )
    return table


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` to fit a terminal, or at its full width to anything else."""
    if console.is_terminal:
        console.print(table)
        return
    wide = Console(
        file=console.file,
        width=UNLIMITED_WIDTH,
        no_color=console.no_color,
        color_system=None,
        highlight=False,
    )
    wide.print(table)


def human_bytes(value: int | None) -> str:
    """A size for people to read (``1.5 MiB``); "-" when unknown."""
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
