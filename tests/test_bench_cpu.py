"""The pure helpers of ``make bench-cpu`` (bench/cpu.py): what they compute must be right, since
the figures of issue 14 are read off them."""

from __future__ import annotations

from bench.cpu import (
    ENDPOINT_NAMES,
    add_framework_ratios,
    docs_table,
    parse_stat_ticks,
    reaction_type,
    ticks_between,
    words,
)


def test_stat_ticks_are_utime_plus_stime_even_with_odd_command_names() -> None:
    # Fields 14 and 15 are 7 and 5; the command name holds a space and a ')'.
    stat = "4242 (town square) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0"
    assert parse_stat_ticks(stat) == 12


def test_ticks_between_counts_a_process_born_in_between_whole() -> None:
    assert ticks_between({1: 10, 2: 5}, {1: 15, 2: 5, 3: 4}) == 9


def test_each_visit_to_a_post_changes_the_reaction_type() -> None:
    rotation = 20
    for i in range(100):
        assert reaction_type(i, rotation) != reaction_type(i + rotation, rotation)


def test_texts_differ_from_one_request_to_the_next() -> None:
    assert len({words(i, 3, 20) for i in range(300)}) == 300


def test_ratios_to_the_framework() -> None:
    measured = {
        "healthz": {"cpu_ms_per_request": 0.5},
        "feed": {"cpu_ms_per_request": 2.0},
    }
    add_framework_ratios(measured)
    assert measured["feed"]["x_healthz"] == 4.0


def test_docs_table_has_every_endpoint_and_checks_budgets() -> None:
    latest = {
        "postgres": {"endpoints": {"feed": {"cpu_ms_per_request": 2.4}}},
        "sqlite": {"endpoints": {"feed": {"cpu_ms_per_request": 4.0}}},
    }
    table = docs_table(None, latest, "a-before-cpu.json", "b-cpu.json")
    first = table.split("\n\n")[0]  # the ms table (the ratio table follows)
    rows = [line for line in first.splitlines() if line.startswith("| `")]
    assert len(rows) == len(ENDPOINT_NAMES)
    feed = next(row for row in rows if "GET /feed?limit=20" in row)
    assert "2.40 ✓" in feed  # within 2.5 ms
    assert "4.00 ✗" in feed  # over 1.5 x 2.5 ms
