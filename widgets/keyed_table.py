"""A DataTable fed by a keyed diff: rows added, changed cells updated, departed rows removed; the
cursor stays on its row. Used by the small panes (inventory, gas, breakers, rebalances)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widgets import DataTable


class KeyedTable(DataTable):
    def __init__(self, columns: Sequence[tuple[str, str]], *, id: str | None = None,
                 classes: str | None = None, cursor_when_focused: bool = False) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._columns = columns
        self._rows: dict[str, tuple[Text, ...]] = {}
        # An unfocused DataTable still paints its cursor row in the plain foreground: where the first row is
        # the alert (a route not quoting, a late stage) the cursor would hide its colour.
        self._cursor_when_focused = cursor_when_focused

    def on_mount(self) -> None:
        for key, label in self._columns:
            self.add_column(label, key=key)
        if self._cursor_when_focused:
            self.show_cursor = False

    def on_focus(self) -> None:
        if self._cursor_when_focused:
            self.show_cursor = True

    def on_blur(self) -> None:
        if self._cursor_when_focused:
            self.show_cursor = False

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def apply(self, rows: Mapping[str, tuple[Text, ...]]) -> None:
        """Show `rows` in their given order (keys are stable identities)."""
        order_changed = list(rows) != [k for k in self._rows if k in rows]
        for key in [k for k in self._rows if k not in rows]:
            self.remove_row(key)
            del self._rows[key]
        columns = [key for key, _ in self._columns]
        for key, cells in rows.items():
            old = self._rows.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                order_changed = True
            elif not all(_same(a, b) for a, b in zip(cells, old, strict=True)):
                merged = []
                for column, new, before in zip(columns, cells, old, strict=True):
                    changed = not _same(new, before)
                    if changed:
                        # update_width: a wider value (a larger amount) must not be cut off
                        self.update_cell(key, column, new, update_width=True)
                    merged.append(new if changed else before)
                cells = tuple(merged)  # the objects the table holds: _reorder finds rows by identity
            else:
                cells = old
            self._rows[key] = cells
        if order_changed:
            position = {key: i for i, key in enumerate(rows)}
            keep = self.selected_key()
            self._reorder(position)
            if keep is not None and keep in position:
                self.move_cursor(row=position[keep], animate=False)

    def _reorder(self, position: Mapping[str, int]) -> None:
        # DataTable.sort passes cell values only; order by our keys through the row-key column lookup.
        keys = {id(row_cells[0]): key for key, row_cells in self._rows.items()}

        def rank(values: tuple) -> int:
            return position.get(keys.get(id(values[0]), ""), 0)

        self.sort(key=rank)


def _same(a: Text, b: Text) -> bool:
    """Text equality that also sees the base style (rich's == compares text and spans only), so a cell
    whose colour alone changed is repainted."""
    return a == b and a.style == b.style
