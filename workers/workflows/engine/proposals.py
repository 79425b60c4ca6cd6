"""Which trials enter a rung, and their configurations.

Proposals never depend on whichever trials happened to finish first, so a sweep's
configurations depend only on its seed and results, not on timing: pausing, resuming or
restarting workers changes nothing. ``random`` proposes a rung's fresh trials at its boundary.
``tpe`` proposes them in waves of ``max_concurrency`` entrants (``app.search.waves``): wave k
is proposed once every entrant of waves <= k-2 has ended its run at the rung, and sees those
results plus all lower rungs, with wave k-1's fresh trials as pending. Until its wave is
proposed a trial is only an id in its rung's summary: it has no config and no TrialResult.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.domain import Observation, ProposeInput, TrialResult, TrialStatus
    from app.search import waves
    from app.temporal import activity_refs, contract

from workers.workflows.engine.notifications import Notifications
from workers.workflows.engine.state import ENDED_AT_RUNG, index_of


class Proposals(Notifications):
    async def _entrants(self, rung_index: int) -> list[int]:
        """Trial indices that train at this rung: survivors of the last rung plus new ones."""
        ladder, state = self._request.ladder, self._state
        if rung_index == 0:
            promoted: list[int] = []
            fresh = ladder.trials
        else:
            promoted = [index_of(t) for t in state.rungs[rung_index - 1].survivors]
            fresh = ladder.rungs[rung_index].new_trials
        new_indices = list(range(state.next_trial_index, state.next_trial_index + fresh))
        # Waved: the rung's run proposes them wave by wave (_propose_waves).
        if new_indices and not self._proposes_in_waves():
            await self._propose(new_indices, rung_index, self._observations(), [])
        state.next_trial_index += fresh
        for index in promoted:
            self._update_trial(index, status=TrialStatus.PENDING, rung=rung_index)
        return promoted + new_indices

    def _proposes_in_waves(self) -> bool:
        # random draws ignore observations: one proposal per rung gives the same trials.
        return self._request.strategy == "tpe"

    async def _propose(
        self,
        indices: list[int],
        rung_index: int,
        observations: list[Observation],
        pending: list[dict[str, Any]],
    ) -> None:
        """Configs for new trials: each becomes a PENDING trial of this rung."""
        request, state = self._request, self._state
        proposals = await workflow.execute_activity(
            activity_refs.propose_configs,
            ProposeInput(
                space=request.space,
                strategy=request.strategy,
                direction=request.objective.resolved_direction,
                sweep_seed=request.seed,
                trial_indices=indices,
                born_rung=rung_index,
                observations=observations,
                pending=pending,
            ),
            task_queue=self._light_queue,
            start_to_close_timeout=contract.PROPOSE_TIMEOUT,
            retry_policy=contract.LIGHT_RETRY,
        )
        for config in proposals:
            state.configs[config.trial_index] = config
            state.trials[config.trial_index] = TrialResult(
                trial_id=config.trial_id,
                trial_index=config.trial_index,
                params=config.params,
                seed=config.seed,
                status=TrialStatus.PENDING,
                rung=rung_index,
            )
            self._changed(config.trial_index)

    def _has_unproposed(self, rung_index: int) -> bool:
        return any(i not in self._state.configs for i in self._rung_indices(rung_index))

    async def _propose_waves(self, rung_index: int) -> None:
        """Propose the rung's waves that have no configs yet, each when it may be (see
        _wave_ready); stops when the sweep drains for continue-as-new."""
        try:
            entrants = self._rung_indices(rung_index)
            fresh = self._born_at(rung_index, entrants)
            width = self._request.max_concurrency
            for wave in waves.waves_to_propose(entrants, width, fresh):
                members = waves.fresh_members(entrants, width, wave, fresh)
                proposed = all(i in self._state.configs for i in members)
                if not proposed and not await self._propose_wave(rung_index, entrants, wave, fresh):
                    return
        except Exception:
            self._proposal_failed = True
            raise

    async def _propose_wave(
        self, rung_index: int, entrants: list[int], wave: int, fresh: set[int]
    ) -> bool:
        """One wave's proposal; False when the sweep drains before it may be made."""
        state, width = self._state, self._request.max_concurrency
        await workflow.wait_condition(
            lambda: self._draining or self._wave_ready(entrants, wave, fresh)
        )
        if self._draining:
            return False
        observations = waves.wave_observations(
            self._observations(), rung_index, entrants, width, wave
        )
        pending = waves.pending_members(entrants, width, wave, fresh)
        members = waves.fresh_members(entrants, width, wave, fresh)
        await self._propose(
            members, rung_index, observations, [state.configs[i].params for i in pending]
        )
        return True

    def _wave_ready(self, entrants: list[int], wave: int, fresh: set[int]) -> bool:
        """Every entrant the wave sees has ended its run here, and its pending ones exist."""
        state, width = self._state, self._request.max_concurrency
        seen = waves.seen_entrants(entrants, width, wave)
        pending = waves.pending_members(entrants, width, wave, fresh)
        return all(
            i in state.trials and state.trials[i].status in ENDED_AT_RUNG for i in seen
        ) and all(i in state.configs for i in pending)

    def _born_at(self, rung_index: int, entrants: list[int]) -> set[int]:
        """The rung's fresh entrants: not proposed yet, or proposed for this rung."""
        configs = self._state.configs
        return {i for i in entrants if i not in configs or configs[i].born_rung == rung_index}

    async def _config_proposed(self, index: int) -> bool:
        """Wait, without a slot, for the trial's wave to be proposed; False if it will not be
        in this run (draining, or a proposal failed: _propose_waves raises that)."""
        await workflow.wait_condition(
            lambda: index in self._state.configs or self._draining or self._proposal_failed
        )
        return index in self._state.configs
