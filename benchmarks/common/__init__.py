"""Helpers every benchmark shares: where figures are written, medians and ranges."""
