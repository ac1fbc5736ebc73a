"""Real-client harness: real PostgreSQL and MLflow servers configured from an (emulated) converge.

Test infrastructure only, not part of the built collection. See tests/harness/README.md.
"""
