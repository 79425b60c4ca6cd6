"""Search quality at equal compute on simulated multi-fidelity test functions."""
