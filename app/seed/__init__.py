"""Loading data: the demo set from `seeds/`, and synthetic millions for benchmarks."""
