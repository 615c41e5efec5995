"""Model instances from the rows of raw statements, as the ORM would build them.

The statements every request runs (the access statement, the user behind a token or
session) are written once; this is the ORM's per-row work for them, its column
list and value converters worked out once per model instead of per query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model


@dataclass(frozen=True)
class ModelColumns:
    """A model's concrete fields as a select list under a table alias."""

    model: type[Model]
    sql: str  # "alias.column, …", quoted for the database
    converters: tuple[tuple[object, tuple[Callable, ...]], ...]  # per column

    @classmethod
    def of(cls, model: type[Model], alias: str, connection: BaseDatabaseWrapper) -> ModelColumns:
        names, converters = [], []
        for field in model._meta.concrete_fields:
            column = field.get_col(alias)
            names.append(f"{alias}.{connection.ops.quote_name(field.column)}")
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            converters.append((column, tuple(functions)))
        return cls(model, ", ".join(names), tuple(converters))

    def __len__(self) -> int:
        return len(self.converters)

    def instance(self, row: Sequence, connection: BaseDatabaseWrapper) -> Model:
        """The model instance from this select list's values in `row` (in order)."""
        values = []
        for value, (column, functions) in zip(row, self.converters, strict=True):
            for function in functions:
                value = function(value, column, connection)
            values.append(value)
        return self.model.from_db(connection.alias, None, values)
