"""Multi-row INSERTs (core/bulk.py): every row lands in exactly one statement of a cached size."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.core.bulk import MAX_ROWS_PER_STATEMENT, MultiRowInsert


def one_row_insert(width: int, tail: str = "") -> str:
    columns = ", ".join(f"c{i}" for i in range(width))
    return f"INSERT INTO t ({columns}) VALUES ({', '.join(['?'] * width)}){tail}"


@given(rows=st.integers(min_value=0, max_value=20_000), width=st.integers(1, 40))
def test_a_plan_covers_every_row_once_in_few_power_of_two_statements(rows: int, width: int) -> None:
    statement = MultiRowInsert(one_row_insert(width))
    plan = statement.plan(rows)
    assert sum(plan) == rows
    assert all(size & (size - 1) == 0 for size in plan)  # powers of two: few distinct texts
    assert plan == sorted(plan, reverse=True)
    assert statement.largest * width <= 32_766 and statement.largest <= MAX_ROWS_PER_STATEMENT
    # the largest size as often as it fits, then each smaller size at most once
    smaller = [size for size in plan if size < statement.largest]
    assert len(smaller) == len(set(smaller))


def test_the_multi_row_text_keeps_the_clause_after_values() -> None:
    upsert = one_row_insert(2, " ON CONFLICT (c0) DO UPDATE SET c1 = (t.c1 + excluded.c1)")
    statement = MultiRowInsert(upsert)
    assert statement.text(1) == upsert
    assert statement.text(3) == (
        "INSERT INTO t (c0, c1) VALUES (?, ?), (?, ?), (?, ?)"
        " ON CONFLICT (c0) DO UPDATE SET c1 = (t.c1 + excluded.c1)"
    )


@pytest.mark.parametrize("sql", ["INSERT INTO t (a) VALUES (%s)", "INSERT INTO t (a) SELECT 1"])
def test_what_is_not_a_one_row_qmark_insert_is_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="one-row INSERT"):
        MultiRowInsert(sql)


@given(
    values=st.lists(
        st.tuples(
            st.floats(allow_nan=False),
            st.text(max_size=5),
            st.none() | st.integers(-(2**63), 2**63 - 1),
        ),
        max_size=3_000,
    )
)
def test_rows_run_in_statements_arrive_exactly_and_in_order(
    values: list[tuple[float, str, int | None]],
) -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, x REAL, s TEXT, i INTEGER)")
    statement = MultiRowInsert("INSERT INTO t (n, x, s, i) VALUES (?, ?, ?, ?)")
    statement.run(connection, [(n, *row) for n, row in enumerate(values)])
    stored = connection.execute("SELECT x, s, i FROM t ORDER BY n").fetchall()
    assert stored == values  # floats bound as doubles, not through text: equal, not close
