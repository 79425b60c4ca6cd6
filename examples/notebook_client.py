# %% [markdown]
# # A sweep from a notebook
#
# Start a stack first (`sweeps dev` prints the two variables to export), or point
# `SWEEPS_API_URL` and `SWEEPS_TOKEN` at a deployed API. Runs as a script too:
# `python examples/notebook_client.py [SWEEP.yaml]`.

# %%
import sys
from pathlib import Path

import yaml

from app.client import SweepsClient

sweep_file = Path(
    sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("tweets-tiny.yaml")
)
request = yaml.safe_load(sweep_file.read_text())
sweeps = SweepsClient()  # SWEEPS_API_URL, SWEEPS_TOKEN

# %% Submit: the request is validated here first, then by the API; nothing starts if invalid.
created = sweeps.submit(request)
print("sweep", created.sweep_id, "-", created.links.temporal_ui)

# %% Follow it: progress bars in a notebook or terminal, one line per event in a log.
result = sweeps.wait(created.sweep_id)
print(result.status.value, "- best:", result.best.trial_id if result.best else None)

# %% The leaderboard as a DataFrame (rank, metrics, one column per hyperparameter).
board = sweeps.leaderboard(created.sweep_id, limit=10).to_pandas()
print(board[["trial_id", "status", "rung", "accuracy", "eval_loss"]].to_string())

# %% The winner: its hyperparameters and the checkpoint to load with from_pretrained().
if result.best is not None:
    print("params:", result.best.params)
    print("checkpoint:", result.best.checkpoint.path if result.best.checkpoint else None)
sweeps.close()
