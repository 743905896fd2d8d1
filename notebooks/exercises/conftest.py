"""nbval does not run the learner notebook here: it stops at every ``raise
NotImplementedError("your turn")`` on purpose and is committed without outputs, so learners
start clean (tests/test_exercises.py runs it and checks each check cell says "not done yet").
The solution notebook lives in ``facilitator/``, outside the learners' folder; tests run it
under nbval."""

collect_ignore = ["exercises_learner.ipynb"]
