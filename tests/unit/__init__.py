"""Pure unit tests: search logic, sampler, request validation (no Temporal server)."""
