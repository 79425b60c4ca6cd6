"""Which trials enter a rung, and when their configurations are proposed.

The bookkeeping is ``app.search.ladder``'s (shared with the benchmarks' simulators); this
module only turns it into commands: one ``propose_configs`` activity per proposal, and waits
until a wave may be proposed. Proposals never depend on whichever trials happened to finish
first, so a sweep's configurations depend only on its seed and results, not on timing:
pausing, resuming or restarting workers changes nothing. Until its wave is proposed a trial
is only an id in its rung's summary: it has no config and no TrialResult.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.domain import ProposeInput, TrialStatus
    from app.search import ladder
    from app.temporal import activity_refs, contract

from workers.workflows.engine.notifications import Notifications


class Proposals(Notifications):
    async def _open_rung(self, rung_index: int) -> None:
        """Record the rung's entrants; ``random`` proposes its fresh trials now, ``tpe``
        wave by wave while the rung runs (_propose_waves)."""
        state, plan = self._state, self._plan
        opening = ladder.plan_rung(state, plan, rung_index)
        if opening.fresh and not plan.waved:
            await self._propose(ladder.opening_proposal(state, plan, rung_index, opening.fresh))
        ladder.open_rung(state, plan, opening, rung_index)
        for index in opening.promoted:
            self._update_trial(index, status=TrialStatus.PENDING, rung=rung_index)

    async def _propose(self, inp: ProposeInput) -> None:
        """Configs for new trials: each becomes a PENDING trial of the rung."""
        proposals = await workflow.execute_activity(
            activity_refs.propose_configs,
            inp,
            task_queue=self._light_queue,
            start_to_close_timeout=contract.PROPOSE_TIMEOUT,
            retry_policy=contract.LIGHT_RETRY,
        )
        for index in ladder.add_proposals(self._state, proposals, inp.born_rung):
            self._changed(index)

    async def _propose_waves(self, rung_index: int) -> None:
        """Propose the rung's waves that have no configs yet, each once it may be; stops when
        the sweep drains for continue-as-new."""
        state, plan = self._state, self._plan
        try:
            for wave in ladder.waves_to_propose(state, plan, rung_index):
                await workflow.wait_condition(
                    lambda wave=wave: (
                        self._draining  # type: ignore[misc]
                        or ladder.wave_ready(state, plan, rung_index, wave)
                    )
                )
                if self._draining:
                    return
                await self._propose(ladder.wave_proposal(state, plan, rung_index, wave))
        except Exception:
            self._proposal_failed = True
            raise

    async def _config_proposed(self, index: int) -> bool:
        """Wait, without a slot, for the trial's wave to be proposed; False if it will not be
        in this run (draining, or a proposal failed: _propose_waves raises that)."""
        await workflow.wait_condition(
            lambda: index in self._state.configs or self._draining or self._proposal_failed
        )
        return index in self._state.configs
