"""The orders table: a keyed diff of the engine's confirmed orders (rows keyed by transactionId).

Each refresh adds new rows, updates the cells that changed (`update_cell`) and removes rows that left
the view; the clock-driven cells (age, deadline countdown) are refreshed only for the rows on screen, so
a refresh costs the changes, not the history (bench/tui_bench.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from engine.api import OrderView
from engine.units import format_units
from widgets.cells import FAMILY_VARIABLE, SortableText, age, duration, plain

COLUMNS = (("id", "Order"), ("route", "Route"), ("token", "Token"), ("amount", "Amount in"),
           ("dest_amount", "Amount out"), ("status", "Status"), ("age", "Age"), ("deadline", "Deadline"),
           ("why", "Why not"))
SORTABLE = tuple(key for key, _ in COLUMNS)
CLEAR_INSTEAD_OF_REMOVING = 200  # remove_row is O(n): past this many removals, rebuild


class OrdersTable(DataTable):
    """Orders, newest first unless the operator sorts by a column (`s` or a header click)."""

    BINDINGS = [Binding("s", "cycle_sort", "Sort", id="orders.sort")]

    class NeedOlder(Message):
        """The cursor reached the bottom: the screen may fetch older orders from the database."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.views: dict[str, OrderView] = {}
        self._cells: dict[str, tuple] = {}
        self.sort_column = "age"
        self.sort_reverse = False  # age ascending = newest first
        self._colors: dict[str, str] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    # ------------------------------------------------------------------ diff

    def selected(self) -> OrderView | None:
        if not self.row_count:
            return None
        key = self._row_locations.get_key(self.cursor_row)  # not coordinate_to_cell_key: O(n) ordered_rows
        return self.views.get(key.value) if key is not None else None

    def apply(self, orders: Sequence[OrderView], chain_times: dict[int, int | None], now: datetime,
              colors: dict[str, str], *, force: bool = False) -> None:
        """Show exactly `orders` (keyed diff). `force` re-renders every cell (after a theme change)."""
        if force:
            self._cells.clear()
        self._colors = colors
        selected = self.selected()
        wanted = {o.transaction_id: o for o in orders}
        gone = [k for k in self.views if k not in wanted]
        if len(gone) > CLEAR_INSTEAD_OF_REMOVING or force:
            self.clear()
            self.views.clear()
            self._cells.clear()
        else:
            for k in gone:
                self.remove_row(k)
                del self.views[k]
                del self._cells[k]
        added = False
        for key, view in wanted.items():
            old = self.views.get(key)
            if old is view or old == view:
                continue
            cells = self._static_cells(view)
            if old is None:
                times = self._time_cells(view, chain_times, now)
                self.add_row(*cells[:6], *times, cells[6], key=key)
                added = True
            else:
                previous = self._cells[key]
                for column, new, before in zip(("id", "route", "token", "amount", "dest_amount", "status", "why"),
                                               cells, previous, strict=True):
                    if new != before:
                        self.update_cell(key, column, new)
            self.views[key] = view
            self._cells[key] = cells
        self.refresh_times(chain_times, now)
        if added or force:
            self._sort(keep=selected)

    def _static_cells(self, o: OrderView) -> tuple:
        family_style = self._colors.get(FAMILY_VARIABLE[o.status.family], "")
        return (
            plain(o.transaction_id[:10] + "…"),
            plain(f"{o.origin_chain_id} -> {o.dest_chain_id}"),
            plain(o.origin_symbol if o.origin_symbol == o.dest_symbol else f"{o.origin_symbol}->{o.dest_symbol}"),
            SortableText(format_units(o.origin_amount, o.origin_decimals, ""), o.origin_amount, justify="right"),
            SortableText(format_units(o.dest_amount, o.dest_decimals, ""), o.dest_amount, justify="right"),
            SortableText(o.status.name, int(o.status), style=family_style),
            plain(o.last_reason or ""),
        )

    def _time_cells(self, o: OrderView, chain_times: dict[int, int | None], now: datetime) -> tuple[Text, Text]:
        head_time = chain_times.get(o.dest_chain_id)
        if o.status.is_terminal:
            deadline = SortableText("-", float("inf"))
        elif head_time is None:
            deadline = SortableText("?", float("inf"))
        else:
            left = o.deadline - head_time
            style = self._colors.get("status-lost", "") if left < 60 else ""
            deadline = SortableText(duration(left) if left >= 0 else "passed", left, style=style)
        return SortableText(age(now, o.created_at), -o.created_at.timestamp(), justify="right"), deadline

    def refresh_times(self, chain_times: dict[int, int | None], now: datetime) -> None:
        """Age and deadline countdown of the rows on screen (they move with the clock, not the engine)."""
        if not self.row_count:
            return
        top = max(0, int(self.scroll_y))
        # By position, not `ordered_rows`: that list is rebuilt (O(n)) after every cell update.
        for index in range(top, min(self.row_count, top + self.size.height + 1)):
            key = self._row_locations.get_key(index)
            view = self.views.get(key.value) if key is not None else None
            if view is None:
                continue
            age_cell, deadline_cell = self._time_cells(view, chain_times, now)
            if self.get_cell(key, "age").plain != age_cell.plain:
                self.update_cell(key, "age", age_cell)
            old_deadline = self.get_cell(key, "deadline")
            if old_deadline.plain != deadline_cell.plain or old_deadline.style != deadline_cell.style:
                self.update_cell(key, "deadline", deadline_cell)

    # ------------------------------------------------------------------ sort

    def _sort(self, keep: OrderView | None = None) -> None:
        def by(cell: Text) -> tuple:
            value = getattr(cell, "sort_value", None)
            return (0, value) if value is not None else (1, cell.plain.lower())

        self.sort(self.sort_column, key=by, reverse=self.sort_reverse)
        if keep is not None and keep.transaction_id in self.views:
            try:
                self.move_cursor(row=self.get_row_index(keep.transaction_id), animate=False)
            except RowDoesNotExist:
                pass

    def sort_by(self, column: str) -> None:
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._sort(keep=self.selected())

    def action_cycle_sort(self) -> None:
        i = SORTABLE.index(self.sort_column)
        self.sort_column, self.sort_reverse = SORTABLE[(i + 1) % len(SORTABLE)], False
        self._sort(keep=self.selected())
        self.notify(f"orders sorted by {dict(COLUMNS)[self.sort_column]}", timeout=2)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_key.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.row_count and event.cursor_row == self.row_count - 1:
            self.post_message(self.NeedOlder())
