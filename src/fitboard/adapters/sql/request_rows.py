"""A batch's requests as a relation of the statement, bound as a fixed set of parameters.

A batch statement that spells out its requests (`IN (:a, :b, ...)`, an OR or a UNION ALL
of one part per request) has a different text for every number of requests: PostgreSQL
parses and plans each text anew on every connection (and a prepared statement's first
five executions are planned again each time), which for a UNION ALL of a hundred parts
cost far more than running it. Here the requests are one relation with one row each,
whatever their number: on PostgreSQL `unnest` of one array per column, on SQLite
`json_each` of one JSON array of rows. The statement's text depends only on its columns,
so it is built, compiled and planned once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Subquery,
    Table,
    any_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class RequestRows:
    """The relation `name` with `columns` (name, type), one row per request."""

    name: str
    columns: tuple[tuple[str, TypeEngine[Any]], ...]

    def relation(self, dialect_name: str) -> Subquery:
        """The relation as a subquery of a statement on `dialect_name`'s engine; its
        columns compare with the table's columns of the same types."""
        if dialect_name == "postgresql":
            arrays = [
                bindparam(self._param(col), type_=ARRAY(type_)) for col, type_ in self.columns
            ]
            rows = func.unnest(*arrays).table_valued(
                *(column(col, type_) for col, type_ in self.columns)
            )
            return select(rows.render_derived(name=f"{self.name}_rows")).subquery(self.name)
        each = func.json_each(bindparam(self._param("json"))).table_valued("value")
        # Each value of the JSON row is already what the engine stores for the column
        # (`params` converts it), so it compares with the column as a bound value would.
        return (
            select(
                *(
                    type_coerce(
                        func.json_extract(each.c.value, literal_column(f"'$[{i}]'")), t
                    ).label(col)
                    for i, (col, t) in enumerate(self.columns)
                )
            )
            .select_from(each)
            .subquery(self.name)
        )

    def among(self, dialect_name: str, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """`column` is one of the requests' values, for a relation of one column. On
        PostgreSQL `= ANY(array)`, which is planned as index lookups: an IN over the
        unnest relation could be planned as a semi-join that scans the whole table."""
        ((name, type_),) = self.columns
        if dialect_name == "postgresql":
            return column == any_(bindparam(self._param(name), type_=ARRAY(type_)))
        return column.in_(select(self.relation(dialect_name).c[name]))

    def params(self, dialect: Dialect, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
        """The parameters that bind `rows` (values in the order of `columns`)."""
        if dialect.name == "postgresql":
            # One array per column: the rows transposed by zip, in C (a list comprehension
            # per column cost twice as much for the worker's batch inserts).
            columns = zip(*rows, strict=True) if rows else ((),) * len(self.columns)
            return {
                self._param(col): list(values)
                for (col, _), values in zip(self.columns, columns, strict=True)
            }
        # What the column's own bind would send the driver (a uuid's hex, a moment's UTC
        # text), so the JSON values compare with the stored ones exactly as binds do.
        convert = [t.dialect_impl(dialect).bind_processor(dialect) for _, t in self.columns]
        encoded = [
            [
                value if c is None or value is None else c(value)
                for c, value in zip(convert, row, strict=True)
            ]
            for row in rows
        ]
        return {self._param("json"): json.dumps(encoded)}

    def _param(self, suffix: str) -> str:
        return f"{self.name}_{suffix}"


def per_request(read: Select[Any], name: str = "per_request") -> Any:
    """`read` (of a table, its conditions on the columns of the requests' relation) as a
    LATERAL subquery `name`, run once for each request: PostgreSQL's form of a batch read
    that should look each request up on its own.

    Joined to the requests, such a read can be planned as one scan of the whole table:
    judging's reads of an athlete's workouts were (the planner takes a range of an
    athlete's workouts to hold a third of them, and with few athletes of many workouts, a
    backlog's or a busy club's, scanned the table for every batch: 12-17 ms for 100
    workouts of 32 athletes with 1,000 each, measured 2026-12-04), and so was `= ANY` of a
    batch's ids in a plan cached while the table was small. A LATERAL read is a nested
    loop, each request's read its own, planned as a range of an index (1.4 ms for the same
    batch). The OFFSET 0 keeps it one: PostgreSQL pulls a plain subquery (no aggregate,
    LIMIT or OFFSET) up into the join, which is then planned as before."""
    return read.offset(0).lateral(name)


def insert_rows(
    table: Table, columns: Sequence[str], key: Sequence[str], dialect_name: str
) -> tuple[RequestRows, postgresql.Insert | sqlite.Insert]:
    """A multi-row INSERT into `table`'s `columns` whose text is the same however many
    rows it inserts: INSERT ... SELECT from a RequestRows relation (a VALUES list has a
    text per row count), to finish with ON CONFLICT on `key` and RETURNING. Its rows are
    bound by `params` with their index first (`numbered`).

    The rows are inserted in the order of their keys, and of two with one key the one
    given first goes first (so ON CONFLICT DO NOTHING keeps it, as it keeps the first
    row of a VALUES list): transactions inserting the same keys take them in one order,
    where rows in the order given could deadlock, each waiting on a key the other just
    inserted."""
    rows_of = RequestRows(
        f"{table.name}_new", (("at", Integer()), *((c, table.c[c].type) for c in columns))
    )
    new = rows_of.relation(dialect_name)
    # WHERE true: SQLite would otherwise read the ON of ON CONFLICT as a join's (its
    # documentation asks for a WHERE clause on the SELECT of an upsert).
    rows = (
        select(*(new.c[c] for c in columns))
        .where(true())
        .order_by(*(new.c[c] for c in key), new.c.at)
    )
    insert = postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)
    return rows_of, insert.from_select(list(columns), rows)


def numbered(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """`rows` with each one's index first, as `insert_rows`'s relation takes them."""
    return [[at, *row] for at, row in enumerate(rows)]
