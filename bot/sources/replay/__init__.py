"""Chat replayed from a JSONL file."""
