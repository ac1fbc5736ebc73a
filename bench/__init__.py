"""Benchmarks of apocrathia.mlflow (issue 9): run them with `bench/run`; not part of `make test`."""
