"""Deployment artefacts: compose file, Dockerfiles, the lean (no torch) API/orchestration image."""
