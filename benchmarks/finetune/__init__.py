"""Real fine-tuning: search quality at equal steps, checkpoint savings, GPU throughput."""
