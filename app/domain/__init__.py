"""Domain types shared by the API, workflows and activities (pydantic only)."""

from app.domain.request import DatasetSpec, Ladder, ModelSpec, Objective, Rung, SweepRequest
from app.domain.results import (
    CheckpointInfo,
    RungResult,
    RungSummary,
    SweepResult,
    SweepStatus,
    TrialConfig,
    TrialMetrics,
    TrialResult,
    TrialStatus,
    trial_id,
)
from app.domain.seeds import derive_seed
from app.domain.space import CategoricalParam, FloatParam, IntParam, ParamValue, SweepSpace
from app.domain.training_params import SEARCHABLE_PARAMS, TrainingParams
from app.domain.workflow_io import (
    DatasetSnapshot,
    EvalInput,
    EvalOutcome,
    FineTuneInput,
    Observation,
    ProposeInput,
    SnapshotInput,
    TrainOutcome,
    TrialControl,
    TrialJob,
)

__all__ = [
    "SEARCHABLE_PARAMS",
    "CategoricalParam",
    "CheckpointInfo",
    "DatasetSnapshot",
    "DatasetSpec",
    "EvalInput",
    "EvalOutcome",
    "FineTuneInput",
    "FloatParam",
    "IntParam",
    "Ladder",
    "ModelSpec",
    "Objective",
    "Observation",
    "ParamValue",
    "ProposeInput",
    "Rung",
    "RungResult",
    "RungSummary",
    "SnapshotInput",
    "SweepRequest",
    "SweepResult",
    "SweepSpace",
    "SweepStatus",
    "TrainOutcome",
    "TrainingParams",
    "TrialConfig",
    "TrialControl",
    "TrialJob",
    "TrialMetrics",
    "TrialResult",
    "TrialStatus",
    "derive_seed",
    "trial_id",
]
