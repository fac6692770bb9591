"""Make moto's DynamoDB answer a query at the cost of its partition, as DynamoDB does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.dynamodb.models.table import Table

from localcloud import moto_patches

INDEX_NAME_AT = 6  # Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
# scan_index_forward, projection_expressions, index_name, ...): the place of index_name after hash_key


class _Partition:
    """A table as a query on its own key sees it: the items of one partition (everything else is the table's)."""

    def __init__(self, table: Table, hash_key) -> None:
        self._table, self._hash_key = table, hash_key

    def __getattr__(self, name: str):
        return getattr(self._table, name)

    def all_items(self) -> list:
        return list(self._table.items.get(self._hash_key, {}).values())


@contextlib.contextmanager
def queries_read_their_partition() -> Iterator[None]:
    """moto 5.2.5 answers every Query by sorting every item of the table and comparing each one's partition
    key: a query's cost grew with all the items ever kept (a line's `ended` markers, every encounter's
    wait), so a burst's simulation grew with the square of its encounters. A query on the table's own key
    of a table with a sort key now looks at its partition only (the same items, in the same order: the
    query sorts them by sort key); a query on an index, or of a table without a sort key, is moto's own."""
    real = Table.query

    def query(self, hash_key, *args, **named):
        index_name = args[INDEX_NAME_AT] if len(args) > INDEX_NAME_AT else named.get("index_name")
        own_key = not index_name and self.has_range_key and hash_key is not None
        return real(_Partition(self, hash_key) if own_key else self, hash_key, *args, **named)

    with moto_patches.replace("moto.dynamodb.models.table.Table.query", query):
        yield
