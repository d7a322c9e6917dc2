"""The ``hccai`` command-line tool (headless use, batch work on cohorts)."""
