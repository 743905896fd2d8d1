"""The engines behind :func:`shopmig.verify`: find the rows that differ without loading tables.

Every engine answers the same question and hands back the same thing, a
:class:`~shopmig.verification.engines.common.Collected`: the row counts of both sides, the
*candidate* rows (every row that might differ, from both sides), the expectation failures and
the before side's key segments. :mod:`shopmig.verification.api` then compares the candidates in
pandas, so the final word on "equal" is always the same code, whatever engine found the
candidates. Engines may over-report candidates (a hash that differs only in float formatting),
never under-report them.

- ``pandas``: both sides in memory (DataFrames, or small tables); in the API module.
- :mod:`~shopmig.verification.engines.stream`: both sides read in binary key order,
  ``chunk_rows`` at a time, merged like a merge join; any two databases.
- :mod:`~shopmig.verification.engines.checksum`: two databases of a kind that hashes rows
  on the server (PostgreSQL, MariaDB/MySQL); only differing buckets' keys cross the network.
- :mod:`~shopmig.verification.engines.sqlite_join`: two SQLite databases, one ``FULL JOIN``.
- :mod:`~shopmig.verification.engines.common`: one side of a comparison, its key (one column
  or several), segments of the key space.

What differs between databases (binary collation, row hash, key buckets, samples) is asked of
the database's :class:`~shopmig.dialects.base.Dialect`, never decided here.
"""
