"""The README's mapping table says what mappings.toml does: every name, with its type."""

from __future__ import annotations

import re
from pathlib import Path

from perfpilot.collection.mapping import builtin_table

README = Path(__file__).parents[3] / "README.md"


def test_readme_table_lists_every_mapped_name_with_its_type() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| ")]
    table = builtin_table()
    for name, entry in table.by_name.items():
        cells = [re.split(r"\s*\|\s*", r) for r in rows]
        matching = [c for c in cells if len(c) > 4 and f"`{name}`" in c[2]]
        assert matching, f"{name} is not in the README's mapping table"
        types = [entry.type] if entry.type else sorted(set(entry.types.values()))
        assert all(t in matching[0][3] for t in types if t), (name, matching[0])
