"""The names of verify's comparison engines (light: the command line lists them in --help)."""

METHODS = ("auto", "pandas", "stream", "checksum", "sqlite-join")
"""``auto`` picks the fastest that fits; see :func:`shopmig.verify`."""
