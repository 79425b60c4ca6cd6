"""Orchestration cost per trial: this service against bare Temporal, Optuna and Ray Tune."""
