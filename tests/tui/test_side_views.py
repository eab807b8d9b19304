"""The pane beside the inventory: gas, quotes and capital in flight, cycled with `v`; what each shows, in
which colour, and the alerts its border carries while another view is shown."""
from __future__ import annotations

from dataclasses import replace

from fakeclient import CAPITAL, QUOTES, FakeEngineClient
from pilotkit import console, press, settle
from textual.content import Content
from textual.widgets import ContentSwitcher, DataTable, Static

from screens.help import HelpScreen
from themes import status_styles
from widgets.cells import styles_for


def cells(app, table_id: str) -> list[list[str]]:
    """Every row of a table as the operator reads it, top to bottom."""
    table = app.main.query_one(table_id, DataTable)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def row_styles(app, table_id: str, row: int) -> list[str]:
    """Each cell's colour as the table renders it (its spans)."""
    table = app.main.query_one(table_id, DataTable)
    return [" ".join(str(span.style) for span in cell.spans) for cell in table.get_row_at(row)]


def current_view(app) -> str | None:
    return app.main.query_one("#side-views", ContentSwitcher).current


def border_texts(app) -> tuple[str, str | None]:
    """The side pane's border title and subtitle as drawn (the widget hands them back as markup)."""
    switcher = app.main.query_one("#side-views", ContentSwitcher)
    subtitle = switcher.border_subtitle
    return Content.from_markup(switcher.border_title).plain, None if subtitle is None else Content.from_markup(subtitle).plain


async def test_v_cycles_gas_quotes_capital_and_back_without_commands():
    client = FakeEngineClient()
    async with console(client) as (app, pilot):
        assert current_view(app) == "gas"
        seen = []
        for _ in range(3):
            await press(pilot, "v")
            seen.append(current_view(app))
        assert seen == ["quotes", "capital", "gas"]
        assert app.main.query_one("#gas").display and not app.main.query_one("#quotes").display
        assert client.executed == []


async def test_quotes_rows_amounts_fee_and_reason():
    async with console(FakeEngineClient()) as (app, pilot):
        await press(pilot, "v")
        rows = cells(app, "#quotes-table")
        assert rows == [
            # not quoting first
            ["31338 -> 31339", "USDC", "0", "0", "0", "halted by breaker max-loss-24h: 1,250 USDC > 1,000 USDC"],
            ["31337 -> 31338", "USDC", "58437.75", "58408.531125", "1.523", "quote_pct 50% of committable 116875.5 USDC"],
            ["31337 -> 31339", "ETH", "9.89", "9.885055", "0.0012",
             "quote_pct 50% of committable 19.8 ETH minus min_gas_token 0.01 ETH"],
            ["31339 -> 31337", "USDC", "50000", "49975", "1.25", "max_relay_amount 50000 USDC"],
        ]


async def test_route_quoted_at_zero_is_in_the_refused_colour_with_its_reason_below():
    async with console(FakeEngineClient()) as (app, pilot):
        await press(pilot, "v")
        refused = styles_for(app.current_theme)["status-refused"]
        assert all(refused in style for style in row_styles(app, "#quotes-table", 0))
        assert not any(refused in style for style in row_styles(app, "#quotes-table", 1))
        reasons = app.main.query_one("#quotes-not-quoting", Static).render()
        assert str(reasons) == ("not quoting 31338 -> 31339 USDC: halted by breaker max-loss-24h: "
                                "1,250 USDC > 1,000 USDC")


async def test_routes_not_quoting_for_one_reason_share_a_line():
    halted = "gas balance 0.002 ETH < min_gas_token 0.01 ETH on chain 31339"
    quotes = tuple(replace(QUOTES[1], origin_chain_id=origin, dest_symbol=symbol, origin_symbol=symbol,
                           limited_by=halted)
                   for origin in (31337, 31338) for symbol in ("USDC", "ETH"))
    async with console(FakeEngineClient(quotes=quotes)) as (app, pilot):
        await press(pilot, "v")
        text = str(app.main.query_one("#quotes-not-quoting", Static).render())
        assert text == ("not quoting 31337 -> 31339 ETH, 31337 -> 31339 USDC, 31338 -> 31339 ETH (+1 more): " + halted)


async def test_capital_rows_overstayed_first_in_the_error_colour():
    async with console(FakeEngineClient()) as (app, pilot):
        await press(pilot, "v", "v")
        assert cells(app, "#capital-table") == [
            ["in dispute", "31339", "USDC", "75", "25m00s / 10m10s", "1"],
            ["committed", "31338", "USDC", "2366.9003", "4m12s / 5m", "3"],
            ["rebalancing", "31338", "USDC", "50000", "1m00s / 30m", "1"],
        ]
        error = styles_for(app.current_theme)["status-error"]
        assert all(error in style for style in row_styles(app, "#capital-table", 0))
        assert not any(error in style for style in row_styles(app, "#capital-table", 1))


async def test_border_names_the_views_and_carries_alerts_while_gas_is_shown():
    async with console(FakeEngineClient()) as (app, pilot):
        assert current_view(app) == "gas"
        assert border_texts(app) == ("Gas · Quotes · Capital  (v)", "1 route not quoting · 1 capital stage overstayed")


async def test_no_alerts_and_empty_states_when_nothing_is_quoted_or_in_flight():
    async with console(FakeEngineClient(quotes=(), capital=())) as (app, pilot):
        assert border_texts(app)[1] is None
        await press(pilot, "v")
        assert app.main.query_one("#quotes").has_class("-empty")
        assert "no quotes yet" in str(app.main.query_one("#quotes-empty", Static).render())
        await press(pilot, "v")
        assert app.main.query_one("#capital").has_class("-empty")
        assert str(app.main.query_one("#capital-empty", Static).render()) == "no capital in flight"


async def test_new_snapshot_updates_cells_in_place_and_reorders():
    client = FakeEngineClient()
    async with console(client) as (app, pilot):
        await press(pilot, "v")
        table = app.main.query_one("#quotes-table", DataTable)
        table.focus()
        table.move_cursor(row=3, animate=False)  # 31339 -> 31337 USDC
        # the 31337 -> 31338 route stops quoting too; 31339 -> 31337 gets a new amount
        quotes = (replace(QUOTES[0], max_origin_amount=0, dest_amount=0, limited_by="route disabled"), QUOTES[1],
                  replace(QUOTES[2], max_origin_amount=40_000 * 10**6, dest_amount=39_980 * 10**6), QUOTES[3])
        client.state = replace(client.state, version=2, quotes=quotes)
        await settle(pilot, 0.3)
        rows = cells(app, "#quotes-table")
        assert [r[0] for r in rows] == ["31337 -> 31338", "31338 -> 31339", "31337 -> 31339", "31339 -> 31337"]
        assert rows[3][2:4] == ["40000", "39980"]
        assert table.cursor_row == 3  # the cursor stayed on its route
        assert border_texts(app)[1].startswith("2 routes not quoting ·")


async def test_capital_ages_refresh_when_the_engine_moved_nothing_else():
    """The engine measures ages at each snapshot; a snapshot with the same version still shows the new ages."""
    client = FakeEngineClient()
    async with console(client) as (app, pilot):
        await press(pilot, "v", "v")
        later = tuple(replace(c, oldest_age_seconds=c.oldest_age_seconds + 60) for c in CAPITAL)
        client.state = replace(client.state, capital=later)  # same version
        await pilot.pause(0.5)
        assert [r[4] for r in cells(app, "#capital-table")] == ["26m00s / 10m10s", "5m12s / 5m", "2m00s / 30m"]


async def test_a_stage_that_starts_overstaying_turns_red_in_every_cell():
    client = FakeEngineClient(capital=CAPITAL[1:2])
    async with console(client) as (app, pilot):
        await press(pilot, "v", "v")
        error = styles_for(app.current_theme)["status-error"]
        late = replace(CAPITAL[1], overstayed=False, oldest_age_seconds=600)
        client.state = replace(client.state, version=2, capital=(late,))
        await settle(pilot, 0.3)
        assert not any(error in style for style in row_styles(app, "#capital-table", 0))
        client.state = replace(client.state, version=3, capital=(replace(late, overstayed=True),))
        await settle(pilot, 0.3)
        assert all(error in style for style in row_styles(app, "#capital-table", 0))


async def test_overstayed_row_colour_follows_the_theme():
    async with console(FakeEngineClient()) as (app, pilot):
        await press(pilot, "v", "v")
        await press(pilot, "t")  # next theme
        error = status_styles(app.current_theme)["status-error"]
        assert all(error in style for style in row_styles(app, "#capital-table", 0))


async def test_help_lists_the_view_key():
    async with console(FakeEngineClient()) as (app, pilot):
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert ("v", "Gas/Quotes/Capital") in app.screen.key_rows
