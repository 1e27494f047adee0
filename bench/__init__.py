"""jobql's benchmark: four realistic requests against jobql and a raw-SQL baseline (see README)."""
