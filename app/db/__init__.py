"""Storage: engine and connections, table models, migrations."""
