"""The orders table: a window onto every order the console knows, rendered a screenful at a time.

The console knows two kinds of orders: the live ones in the engine's snapshot (active and recently
finished) and older ones paged in from the database on demand (`NeedOlder`, answered by the app with
`EngineClient.list_orders`). Both are kept as plain `OrderView`s, merged (a live view wins over a stored
copy of the same transactionId), filtered and sorted in Python; the DataTable only ever holds the rows on
screen. A refresh therefore costs the live changes plus one screenful of cells, whatever the history
(bench/tui_bench.py); the cursor keys, paging and sorting move over the whole list, not the DataTable's
rows.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.api import OrderView
from engine.units import format_units
from themes import family_variable
from widgets.cells import SortableText, age, duration, plain

# (key, label, width): columns of bounded content get a fixed width, so they do not move as the window
# slides over the history; the others size to what has been shown.
COLUMNS = (("id", "Order", 11), ("route", "Route", 14), ("token", "Token", None), ("amount", "Amount in", None),
           ("dest_amount", "Amount out", None), ("status", "Status", 18), ("age", "Age", 6),
           ("deadline", "Deadline", 8), ("why", "Why not", None))
SORTABLE = tuple(key for key, _, _ in COLUMNS)
STATIC_COLUMNS = ("id", "route", "token", "amount", "dest_amount", "status", "why")
NO_DEADLINE = float("inf")
# Sort keys on the views themselves (no rendered cells needed); ties broken by transactionId.
SORT_KEYS: dict[str, Callable[[OrderView], tuple]] = {
    "id": lambda o: (o.transaction_id,),
    "route": lambda o: (o.origin_chain_id, o.dest_chain_id, o.transaction_id),
    "token": lambda o: (o.origin_symbol.lower(), o.dest_symbol.lower(), o.transaction_id),
    "amount": lambda o: (o.origin_amount, o.transaction_id),
    "dest_amount": lambda o: (o.dest_amount, o.transaction_id),
    "status": lambda o: (int(o.status), o.transaction_id),
    "age": lambda o: (-o.created_at.timestamp(), o.transaction_id),
    "deadline": lambda o: (NO_DEADLINE if o.status.is_terminal else o.deadline, o.transaction_id),
    "why": lambda o: ((o.last_reason or "").lower(), o.transaction_id),
}
FALLBACK_WINDOW = 20  # rows rendered before the first layout tells the real height


class OrdersTable(DataTable):
    """Orders, newest first unless the operator sorts by a column (`s` or a header click)."""

    BINDINGS = [Binding("s", "cycle_sort", "Sort", id="orders.sort")]

    class NeedOlder(Message):
        """The cursor came within a screenful of the last known order: fetch older ones from the database."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.live: dict[str, OrderView] = {}  # the engine's snapshot
        self.history: dict[str, OrderView] = {}  # pages from the database
        self.accepts: Callable[[OrderView], bool] | None = None  # the operator's filter
        self.sort_column = "age"
        self.sort_reverse = False  # age ascending = newest first
        self.top = 0  # index in `ordered` of the first row on screen
        self.ordered: list[OrderView] = []  # every order the table can show, filtered and sorted
        self._index: dict[str, int] = {}
        self._dirty = False
        self._shown: list[str] = []  # keys of the DataTable's rows, in order
        self._cells: dict[str, tuple] = {}  # static cells of the rows shown
        self._colors: dict[str, str] = {}
        self._chain_times: dict[int, int | None] = {}
        self._now: datetime | None = None

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    # ------------------------------------------------------------------ what is shown

    @property
    def total(self) -> int:
        """Orders the table can show (live and loaded history, after the filter)."""
        self._reorder_if_dirty()
        return len(self.ordered)

    @property
    def cursor(self) -> int:
        """Index of the selected order in `ordered`."""
        return self.top + self.cursor_row if self.row_count else 0

    @property
    def window(self) -> int:
        """Rows that fit on screen."""
        height = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        return height if height > 0 else FALLBACK_WINDOW

    def selected(self) -> OrderView | None:
        if not self.row_count:
            return None
        key = self._row_locations.get_key(self.cursor_row)  # not coordinate_to_cell_key: O(n) ordered_rows
        if key is None:
            return None
        return self.live.get(key.value) or self.history.get(key.value)

    def apply(self, orders: Sequence[OrderView], chain_times: dict[int, int | None], now: datetime,
              colors: dict[str, str], *, force: bool = False) -> None:
        """Take the snapshot's live orders. `force` re-renders every cell (after a theme change)."""
        self._chain_times, self._now, self._colors = chain_times, now, colors
        live = self.live
        if len(orders) != len(live) or any(live.get(o.transaction_id) is not o for o in orders):
            fresh = {o.transaction_id: o for o in orders}
            if fresh != live:
                self.live = fresh
                self._dirty = True
        self._show(force=force)

    def add_history(self, orders: Iterable[OrderView]) -> None:
        for o in orders:
            self.history.setdefault(o.transaction_id, o)
        self._dirty = True
        self._show()

    def set_filter(self, accepts: Callable[[OrderView], bool] | None) -> None:
        """A new filter: history pages of the old one are dropped (the app pages in the new one's)."""
        self.accepts = accepts
        self.history.clear()
        self.top = 0
        self._dirty = True
        self._show(cursor=0)

    def index_of(self, transaction_id: str) -> int | None:
        self._reorder_if_dirty()
        return self._index.get(transaction_id)

    def select(self, index: int) -> None:
        """Put the cursor on `ordered[index]`, moving the window to show it."""
        self._show(cursor=index)
        if self.total and self.total - self.cursor <= self.window:
            self.post_message(self.NeedOlder())

    def _reorder_if_dirty(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        merged = dict(self.history)
        merged.update(self.live)  # the engine's live view is newer than a stored page
        rows = [o for o in merged.values() if self.accepts(o)] if self.accepts is not None else list(merged.values())
        rows.sort(key=SORT_KEYS[self.sort_column], reverse=self.sort_reverse)
        self.ordered = rows
        self._index = {o.transaction_id: i for i, o in enumerate(rows)}

    def _show(self, *, cursor: int | None = None, force: bool = False) -> None:
        """Render the window around the cursor. The selected order stays selected as the list moves
        (and on the same screen line, unless the window is at the top: there new orders push it down)."""
        selected = self.selected()
        at = self.cursor
        self._reorder_if_dirty()
        count, height = len(self.ordered), self.window
        if cursor is None:
            cursor = at
            if selected is not None and selected.transaction_id in self._index:
                cursor = self._index[selected.transaction_id]
                if self.top:
                    self.top += cursor - at
        cursor = max(0, min(cursor, count - 1))
        top = max(0, min(self.top, cursor, count - height))
        if cursor >= top + height:
            top = cursor - height + 1
        self.top = top
        window = self.ordered[top: top + height]
        keys = [o.transaction_id for o in window]
        if force:
            self._cells.clear()
        if keys != self._shown or force:
            self.clear()
            wanted = set(keys)
            self._cells = {k: v for k, v in self._cells.items() if k in wanted}
            for view in window:
                cells = self._cells_of(view)
                self.add_row(*cells[:6], *self._time_cells(view), cells[6], key=view.transaction_id)
            self._shown = keys
        else:
            for view in window:
                previous = self._cells[view.transaction_id][1]
                cells = self._cells_of(view)
                if cells is not previous:
                    for column, new, before in zip(STATIC_COLUMNS, cells, previous, strict=True):
                        if new != before:
                            self.update_cell(view.transaction_id, column, new)
            self._refresh_times()
        if window and self.cursor_row != cursor - top:
            self.move_cursor(row=cursor - top, animate=False, scroll=False)

    def _cells_of(self, view: OrderView) -> tuple:
        """The static cells of a row, rebuilt only when its view changed."""
        cached = self._cells.get(view.transaction_id)
        if cached is not None and (cached[0] is view or cached[0] == view):
            return cached[1]
        cells = self._static_cells(view)
        self._cells[view.transaction_id] = (view, cells)
        return cells

    def _static_cells(self, o: OrderView) -> tuple:
        family_style = self._colors.get(family_variable(o.status.family), "")
        return (
            plain(o.transaction_id[:10] + "…"),
            plain(f"{o.origin_chain_id} -> {o.dest_chain_id}"),
            plain(o.origin_symbol if o.origin_symbol == o.dest_symbol else f"{o.origin_symbol}->{o.dest_symbol}"),
            SortableText(format_units(o.origin_amount, o.origin_decimals, ""), o.origin_amount, justify="right"),
            SortableText(format_units(o.dest_amount, o.dest_decimals, ""), o.dest_amount, justify="right"),
            SortableText(o.status.name, int(o.status), style=family_style),
            plain(o.last_reason or ""),
        )

    def _time_cells(self, o: OrderView) -> tuple[Text, Text]:
        head_time = self._chain_times.get(o.dest_chain_id)
        if o.status.is_terminal:
            deadline = SortableText("-", NO_DEADLINE)
        elif head_time is None:
            deadline = SortableText("?", NO_DEADLINE)
        else:
            left = o.deadline - head_time
            style = self._colors.get("status-lost", "") if left < 60 else ""
            deadline = SortableText(duration(left) if left >= 0 else "passed", left, style=style)
        now = self._now
        when = "?" if now is None else age(now, o.created_at)
        return SortableText(when, -o.created_at.timestamp(), justify="right"), deadline

    def refresh_times(self, chain_times: dict[int, int | None], now: datetime) -> None:
        """Age and deadline countdown of the rows on screen (they move with the clock, not the engine)."""
        self._chain_times, self._now = chain_times, now
        self._refresh_times()

    def _refresh_times(self) -> None:
        for key in self._shown:
            view = self.live.get(key) or self.history.get(key)
            if view is None:
                continue
            age_cell, deadline_cell = self._time_cells(view)
            if self.get_cell(key, "age").plain != age_cell.plain:
                self.update_cell(key, "age", age_cell)
            old_deadline = self.get_cell(key, "deadline")
            if old_deadline.plain != deadline_cell.plain or old_deadline.style != deadline_cell.style:
                self.update_cell(key, "deadline", deadline_cell)

    # ------------------------------------------------------------------ moving over the whole list

    def on_resize(self, event: events.Resize) -> None:
        self._show()

    def action_cursor_down(self) -> None:
        self.select(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.select(self.cursor - 1)

    def action_page_down(self) -> None:
        self.select(self.cursor + self.window)

    def action_page_up(self) -> None:
        self.select(self.cursor - self.window)

    def action_scroll_top(self) -> None:
        self.select(0)

    action_scroll_home = action_scroll_top

    def action_scroll_bottom(self) -> None:
        self.select(self.total - 1)

    action_scroll_end = action_scroll_bottom

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.select(self.cursor + 3)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.select(self.cursor - 3)

    # ------------------------------------------------------------------ sort

    def sort_by(self, column: str) -> None:
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._resort()

    def action_cycle_sort(self) -> None:
        i = SORTABLE.index(self.sort_column)
        self.sort_column, self.sort_reverse = SORTABLE[(i + 1) % len(SORTABLE)], False
        self._resort()
        self.notify(f"orders sorted by {next(label for key, label, _ in COLUMNS if key == self.sort_column)}",
                    timeout=2)

    def _resort(self) -> None:
        selected = self.selected()
        self._dirty = True
        self._reorder_if_dirty()
        self.top = 0
        self._show(cursor=self._index.get(selected.transaction_id, 0) if selected is not None else 0)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(event.column_key.value)
