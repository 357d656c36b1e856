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
from collections import Counter
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
class Read:
    """One read of the table (PostgreSQL: of one of its partitions)."""

    access: str  # SQLite: SCAN/SEARCH; PostgreSQL: the node type that reads the table
    condition: str  # the index range: SQLite's "(a=? AND b<?)", PostgreSQL's Index Cond


@dataclass(frozen=True)
class Plan:
    """What a plan does to the table: how it reads it, the index condition, what else."""

    text: str  # the whole plan, for failure messages
    reads: tuple[Read, ...]  # PostgreSQL: one per partition holding rows (see `explain`)
    sorts: bool
    table_nodes: int  # how many times the plan reads the table (or one partition of it)


async def explain(connection: AsyncConnection, sent: Sent, table: str) -> Plan:
    """The plan of a sent statement, as it reads `table`.

    A partitioned table (PostgreSQL's samples, by day) is read partition by partition, merged
    in order: each partition read that does any work must be read as the table would be. Left
    out: a partition of fewer than FEW_ROWS rows (a day ahead; the minutes of a day just
    begun), and a read that met no row at all (the plan is run, EXPLAIN ANALYZE, to know: the
    planner rightly reads a partition whose rows all lie outside the cursor's bound by an
    empty range of the time index). Such reads cost nothing whatever index they use."""
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
            reads=(Read(access, condition),),
            sorts=any("TEMP B-TREE" in d for d in details),
            table_nodes=len(reads),
        )
    partitioned = await partitions_with_rows(connection, table)
    options = "ANALYZE, FORMAT JSON" if partitioned is not None else "FORMAT JSON"
    raw = (
        await connection.exec_driver_sql(f"EXPLAIN ({options}) " + sent.statement, sent.parameters)
    ).scalar_one()
    root = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = list(_walk(root))
    read_nodes = [
        n
        for n in nodes
        if n.get("Relation Name") == table
        or (n.get("Relation Name") in (partitioned or set()) and _met_rows(n))
    ]
    per_relation = Counter(str(n["Relation Name"]) for n in read_nodes)
    return Plan(
        text=json.dumps(root, indent=1),
        reads=tuple(
            Read(str(n.get("Node Type", "")), str(n.get("Index Cond", ""))) for n in read_nodes
        )
        or (Read("", ""),),
        sorts=any("Sort" in str(n["Node Type"]) for n in nodes),
        table_nodes=max(per_relation.values(), default=0),
    )


def _met_rows(node: dict[str, Any]) -> bool:
    """Whether a read, as run, returned or filtered out any row."""
    met = ("Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck")
    return int(node.get("Actual Loops", 0)) > 0 and any(float(node.get(k, 0)) > 0 for k in met)


# fewer rows than this fill a few pages: however a plan reads them, it reads little
FEW_ROWS = 1_000


async def partitions_with_rows(connection: AsyncConnection, table: str) -> set[str] | None:
    """The partitions of `table` holding FEW_ROWS rows or more; None: not partitioned."""
    names = await connection.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        f"WHERE i.inhparent = to_regclass('{table}')"
    )
    found = [str(name) for (name,) in names.all()]
    if not found:
        return None
    held = set()
    for name in found:
        rows = await connection.exec_driver_sql(
            f"SELECT count(*) FROM (SELECT FROM {name} LIMIT {FEW_ROWS}) AS few"
        )
        if rows.scalar() == FEW_ROWS:
            held.add(name)
    return held


async def partitions_with_few_rows(connection: AsyncConnection, table: str) -> set[str]:
    """The partitions of `table` holding fewer than FEW_ROWS rows (none: not partitioned)."""
    names = await connection.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        f"WHERE i.inhparent = to_regclass('{table}')"
    )
    return {str(name) for (name,) in names.all()} - (
        await partitions_with_rows(connection, table) or set()
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
    for read in plan.reads:
        problems += [
            p
            for p in _read_problems(read, equal_all, equal_any, ts, ranged, cursor)
            if p not in problems
        ]
    return problems


def _read_problems(
    read: Read,
    equal_all: Sequence[str],
    equal_any: Sequence[str],
    ts: str,
    ranged: bool,
    cursor: bool,
) -> list[str]:
    problems = []
    if read.access.startswith(("SCAN", "SEARCH")):  # SQLite
        if "INDEX" not in read.access:
            problems.append("full table scan")
        elif (equal_all or equal_any or ranged) and not read.access.startswith("SEARCH"):
            problems.append("walks a whole index instead of a range")
        sought = set(re.findall(r"(\w+)=\?", read.condition))
        bounds_ts = re.search(rf"\b{ts}[<>]|\({ts},id\)<", read.condition) is not None
        row_value = f"({ts},id)<(?,?)" in read.condition
    else:  # PostgreSQL
        if read.access not in ("Index Scan", "Index Only Scan"):
            problems.append(f"reads the table by {read.access or 'nothing'}, not an index range")
        sought = set(re.findall(r"\(+\"?(\w+)\"?\)?(?:::\w+)? = ", read.condition))
        bounds_ts = re.search(rf"\"?\b{ts}\b\"? [<>]|ROW\(\"?{ts}\b", read.condition) is not None
        row_value = re.search(rf"ROW\(\"?{ts}\"?, id\) <", read.condition) is not None
    if missing := [c for c in equal_all if c not in sought]:
        problems.append(f"does not seek on {missing}")
    if equal_any and not sought & set(equal_any):
        problems.append(f"seeks on none of {equal_any}")
    if ranged and not bounds_ts:
        problems.append(f"no range on {ts}")
    if cursor and not row_value:
        problems.append(f"the cursor is not the range bound ({ts}, id) < (?, ?)")
    return problems
