"""The name mapping (OTLP / Prometheus names -> registry types), read from mappings.toml.

The table is data: `MappingTable.load()` parses and validates the file once at start. A scrape
target of the `prometheus` preset brings its own entries (`TargetMapping`), validated by the
same model.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["histogram", "histogram_sum", "gauge", "rate", "delta", "ratio"]
Preset = Literal["vllm", "tgi", "triton", "litellm", "prometheus"]
PRESETS: tuple[str, ...] = ("vllm", "tgi", "triton", "litellm", "prometheus")


class MappingEntry(BaseModel):
    """One or more source names that become one registry type (or several, with `split`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = "prometheus"
    names: list[str] = Field(min_length=1)
    type: str | None = None
    kind: Kind
    unit: str | None = None
    split: str | None = None
    types: dict[str, str] = Field(default_factory=dict)
    denominator: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> MappingEntry:
        if self.split is None and self.type is None:
            raise ValueError("an entry needs `type`, or `split` with `types`")
        if self.split is not None and not self.types:
            raise ValueError("`split` needs `types` (attribute value -> type)")
        if (self.kind == "ratio") != bool(self.denominator):
            raise ValueError("`denominator` goes with kind = ratio, and only with it")
        return self

    def type_for(self, labels: dict[str, str]) -> str | None:
        """The registry type for a series with these labels (None: the split value is unknown)."""
        if self.split is None:
            return self.type
        return self.types.get(labels.get(self.split, ""))


class PresetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[str, str] = Field(default_factory=dict)  # renames
    drop: list[str] = Field(default_factory=list)


class _MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presets: dict[str, PresetSpec] = Field(default_factory=dict)
    metric: list[MappingEntry] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MappingTable:
    """Entries by source name, and the label rules of each preset."""

    by_name: dict[str, MappingEntry]
    presets: dict[str, PresetSpec]

    @classmethod
    def from_entries(
        cls, entries: list[MappingEntry], presets: dict[str, PresetSpec] | None = None
    ) -> MappingTable:
        by_name: dict[str, MappingEntry] = {}
        for entry in entries:
            for name in entry.names:
                if name in by_name:
                    raise ValueError(f"metric name {name!r} is mapped twice")
                by_name[name] = entry
        return cls(by_name, presets or {})

    @classmethod
    def load(cls, text: str) -> MappingTable:
        parsed = _MappingFile.model_validate(tomllib.loads(text))
        return cls.from_entries(parsed.metric, parsed.presets)

    def for_preset(self, preset: str) -> MappingTable:
        """Only the entries of one scrape preset."""
        entries = {n: e for n, e in self.by_name.items() if e.preset == preset}
        return MappingTable(entries, self.presets)

    def lookup(self, name: str) -> MappingEntry | None:
        """The entry for a name; a Prometheus counter is found with or without `_total`."""
        entry = self.by_name.get(name)
        if entry is None and not name.endswith("_total"):
            entry = self.by_name.get(name + "_total")
        if entry is None and name.endswith("_total"):
            entry = self.by_name.get(name[: -len("_total")])
        return entry

    def preset_labels(self, preset: str) -> PresetSpec:
        return self.presets.get(preset, PresetSpec())


@cache
def builtin_table() -> MappingTable:
    """The table shipped in mappings.toml (parsed once)."""
    text = resources.files("perfpilot.collection").joinpath("mappings.toml").read_text("utf-8")
    return MappingTable.load(text)
