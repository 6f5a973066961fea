"""sleuth's unittest suite; run all of it with ``python3 sleuth/run_tests.py``."""
