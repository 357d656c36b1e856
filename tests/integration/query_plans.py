"""Read the plan the database chooses for the exact SQL a request sent.

`sent_statements` records every statement the app's engines execute (the SQL and the bound
parameters as the driver got them), so a test asks for a list over HTTP and explains what was
really sent, not a copy of it. `explain` runs `EXPLAIN QUERY PLAN` (SQLite) or
`EXPLAIN (FORMAT JSON)` (PostgreSQL) on it; `seek_problems` names what is wrong with the plan:
a full scan, a sort, or an index range that does not bound what it should.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Sent:
    statement: str
    parameters: Any


@contextmanager
def sent_statements() -> Iterator[list[Sent]]:
    """Statements executed by any engine (the live server's included) while inside."""
    seen: list[Sent] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        seen.append(Sent(statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def the_list_query(seen: list[Sent], table: str) -> Sent:
    """The one paged SELECT over `table` among the statements a request sent."""
    found = [
        s
        for s in seen
        if s.statement.lstrip().upper().startswith("SELECT")
        and re.search(rf"\bFROM {table}\b", s.statement)
        and "ORDER BY" in s.statement
    ]
    assert len(found) == 1, [s.statement for s in seen]
    return found[0]


@dataclass(frozen=True)
class Plan:
    """What a plan does to the table: how it reads it, the index condition, what else."""

    text: str  # the whole plan, for failure messages
    access: str  # SQLite: SCAN/SEARCH; PostgreSQL: the node type that reads the table
    condition: str  # the index range: SQLite's "(a=? AND b<?)", PostgreSQL's Index Cond
    sorts: bool
    table_nodes: int


async def explain(connection: AsyncConnection, sent: Sent, table: str) -> Plan:
    if connection.dialect.name == "sqlite":
        rows = (
            await connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sent.statement, sent.parameters
            )
        ).all()
        details = [str(r[3]) for r in rows]
        reads = [d for d in details if re.match(rf"(SCAN|SEARCH) {table}\b", d)]
        access = reads[0] if reads else ""
        condition = access[access.index("(") :] if "(" in access else ""
        return Plan(
            text="\n".join(details),
            access=access,
            condition=condition,
            sorts=any("TEMP B-TREE" in d for d in details),
            table_nodes=len(reads),
        )
    raw = (
        await connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sent.statement, sent.parameters)
    ).scalar_one()
    root = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = list(_walk(root))
    reads = [n for n in nodes if n.get("Relation Name") == table]
    node = reads[0] if reads else {}
    return Plan(
        text=json.dumps(root, indent=1),
        access=str(node.get("Node Type", "")),
        condition=str(node.get("Index Cond", "")),
        sorts=any("Sort" in str(n["Node Type"]) for n in nodes),
        table_nodes=len(reads),
    )


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def seek_problems(
    plan: Plan,
    *,
    equal_all: Sequence[str] = (),
    equal_any: Sequence[str] = (),
    ts: str,
    ranged: bool,
    cursor: bool,
) -> list[str]:
    """What keeps the plan from being one index range read in (ts, id) order.

    equal_all: filter columns the index must seek on, all of them; equal_any: at least one
    (the planner picks which index); ranged: a bound on `ts` is given (since/until/cursor);
    cursor: the bound must be the row value (ts, id) < (?, ?).
    """
    problems = []
    if plan.sorts:
        problems.append("sorts the rows")
    if plan.table_nodes != 1:
        problems.append(f"reads the table {plan.table_nodes} times")
    if plan.access.startswith(("SCAN", "SEARCH")):  # SQLite
        if "INDEX" not in plan.access:
            problems.append("full table scan")
        elif (equal_all or equal_any or ranged) and not plan.access.startswith("SEARCH"):
            problems.append("walks a whole index instead of a range")
        sought = set(re.findall(r"(\w+)=\?", plan.condition))
        bounds_ts = re.search(rf"\b{ts}[<>]|\({ts},id\)<", plan.condition) is not None
        row_value = f"({ts},id)<(?,?)" in plan.condition
    else:  # PostgreSQL
        if plan.access not in ("Index Scan", "Index Only Scan"):
            problems.append(f"reads the table by {plan.access or 'nothing'}, not an index range")
        sought = set(re.findall(r"\(+\"?(\w+)\"?\)?(?:::\w+)? = ", plan.condition))
        bounds_ts = re.search(rf"\"?\b{ts}\b\"? [<>]|ROW\(\"?{ts}\b", plan.condition) is not None
        row_value = re.search(rf"ROW\(\"?{ts}\"?, id\) <", plan.condition) is not None
    if missing := [c for c in equal_all if c not in sought]:
        problems.append(f"does not seek on {missing}")
    if equal_any and not sought & set(equal_any):
        problems.append(f"seeks on none of {equal_any}")
    if ranged and not bounds_ts:
        problems.append(f"no range on {ts}")
    if cursor and not row_value:
        problems.append(f"the cursor is not the range bound ({ts}, id) < (?, ?)")
    return problems
