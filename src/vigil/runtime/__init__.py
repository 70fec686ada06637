"""Run time: camera runners (capture -> pipeline -> alerts) and their supervisor."""
