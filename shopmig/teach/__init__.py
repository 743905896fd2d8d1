"""Teaching: exercises with automatic feedback, classroom databases, running the notebooks.

- :mod:`shopmig.teach.exercises`: the checks behind ``notebooks/exercises``.
- :mod:`shopmig.teach.classroom`: one demo shop per learner on a shared server.
- :mod:`shopmig.teach.notebooks`: run every notebook headless (``shopmig notebooks``).
"""
