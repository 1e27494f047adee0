"""The reference worker: a jobql client that claims jobs, runs the built-in analyzers, reports."""
