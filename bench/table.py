"""The result table: rows in figure order, rendered as plain text or as Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field

COLUMNS = ["figure", "path", "value", "ratio", "target", "result"]


@dataclass
class Row:
    figure: str  # "" continues the figure above
    path: str
    value: str
    ratio: str = ""
    target: str = ""
    result: str = ""  # "met", "NOT met" or "" (no target)

    def cells(self) -> list[str]:
        return [self.figure, self.path, self.value, self.ratio, self.target, self.result]


def row(
    figure: str,
    path: str,
    value: str,
    ratio: str = "",
    target: str = "",
    met: bool | None = None,
) -> Row:
    result = "" if met is None else ("met" if met else "NOT met")
    return Row(figure, path, value, ratio, target, result)


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def groups(self) -> list[list[Row]]:
        """The rows of each figure (a row with a figure name starts a new one)."""
        groups: list[list[Row]] = []
        for item in self.rows:
            if not groups or (item.figure and item.figure != groups[-1][0].figure):
                groups.append([])
            groups[-1].append(item)
        return groups

    def lines(self, header: list[str]) -> list[str]:
        """The header lines, then the table, a rule between figures."""
        cells = [item.cells() for item in self.rows]
        widths = [
            max(len(COLUMNS[i]), *(len(cell[i]) for cell in cells)) if cells else len(COLUMNS[i])
            for i in range(len(COLUMNS))
        ]

        def line(values: list[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        out = [*header, "", line(COLUMNS), rule]
        for index, group in enumerate(self.groups()):
            if index:
                out.append(rule)
            out += [line(item.cells()) for item in group]
        return [*out, rule]

    def render(self, header: list[str]) -> str:
        """Plain text: the table, then the notes."""
        notes = [f"  - {note}" for note in self.notes]
        return "\n".join([*self.lines(header), "", "Notes:", *notes]) + "\n"

    def markdown(self, first_line: str, header: list[str]) -> str:
        """docs/bench-results.md: the text table and the notes, each in a code block."""
        out = [first_line, "", "# Benchmark results", ""]
        out += ["How to read these tables: [benchmarks.md](benchmarks.md).", ""]
        out += ["```", *self.lines(header), "```", ""]
        out += ["## How each figure was measured (the bench's notes)", ""]
        out += ["```", *(f"- {note}" for note in self.notes), "```"]
        return "\n".join(out) + "\n"
