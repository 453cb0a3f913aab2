"""On-demand benchmarks: ``python benchmarks/run.py`` (never part of the test suite's timing)."""
