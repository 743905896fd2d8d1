"""nbval runs only the solution notebook here: the learner notebook stops at every
``raise NotImplementedError("your turn")`` on purpose (tests/test_exercises.py runs it and
checks each check cell says "not done yet"), and source/ is the generator's input."""

collect_ignore = ["source", "exercises_learner.ipynb"]
