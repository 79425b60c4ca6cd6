"""The ML layer: dataset snapshots, fine-tuning, checkpoints and evaluation (torch stack).

Nothing here imports temporalio: the activity adapters in ``workers.activities.training_queue``
translate between Temporal and these functions. Submodules are imported explicitly
(``from workers.ml.train import fine_tune``) so that importing the package stays cheap.
"""
