"""Benchmarks: each module prints one JSON object (run all with `make bench`)."""
