"""Turns and conversation integrity: outcomes, tokens, lost/duplicated turns, digests, the response chain.

Identity comes from the events' fields (``agent``, ``turn``, ``session``), never from the id's text.
The response chain is followed per agent, in the order its one file holds its events.
"""

from __future__ import annotations

from collections import Counter

from reports.ledger import schema as ev
from reports.sketch import LogHistogram
from reports.summary.findings import FindingSet
from reports.summary.model import Integrity
from reports.summary.timeline import Timeline

__all__ = ["Turns", "NOT_FOUND"]

NOT_FOUND = "previous_response_not_found"


class _Turn:
    """What the ledger said about one logical turn (all its attempts)."""

    __slots__ = ("agent", "session", "index", "started", "ended", "stopped", "good_ends", "last", "last_error",
                 "cuts", "cause", "attempts", "after_fallback")

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.session: int | None = None
        self.index: int | None = None
        self.started = self.ended = self.stopped = False
        self.good_ends = self.cuts = 0
        self.last: ev.Outcome | None = None  # the outcome of its last turn_end
        self.last_error: str | None = None
        self.cause: ev.LossCause | None = None  # from turn_abandon
        self.attempts: int | None = None  # turn_abandon.attempts
        self.after_fallback = False  # an attempt started after its agent's transport_fallback

    def loss(self) -> str:
        """How this lost turn was lost, in words (``turn_abandon`` first, else its last ``turn_end``)."""
        if self.cause is not None:
            return _ABANDONED[self.cause](self)
        if not self.ended:
            return "never ended"
        if self.last == ev.Outcome.CUT:
            return "cut and not retried" if self.cuts <= 1 else f"cut {self.cuts} times, not retried again"
        if self.last == ev.Outcome.FAILED:
            return "failed (response.failed)"
        if self.last_error == NOT_FOUND:
            return f"{NOT_FOUND}, not resent"
        return f"ended in error ({self.last_error or 'no code'})"


_ABANDONED = {
    ev.LossCause.CUT_RETRIES_EXHAUSTED: lambda t: f"cut {t.attempts or t.cuts} times, policy exhausted",
    ev.LossCause.RETRY_DISABLED: lambda t: "cut and not retried (retry disabled)",
    ev.LossCause.FULL_RESEND_DISABLED: lambda t: f"{NOT_FOUND}, full resend disabled",
    ev.LossCause.ERROR: lambda t: f"ended in error ({t.last_error or 'no code'})",
    ev.LossCause.FAILED: lambda t: "failed (response.failed)",
    ev.LossCause.NO_CONNECTION: lambda t: "no connection within the turn timeout",
}


class _Chain:
    """One agent's conversation as it goes: its session, last good response, and the ``(session, index)``
    of a previous_response_not_found still to be answered by a full resend."""

    __slots__ = ("session", "last_response", "not_found_pending")

    def __init__(self, session: int) -> None:
        self.session = session
        self.last_response: str | None = None
        self.not_found_pending: tuple[int | None, int | None] | None = None


class Turns:
    """Accumulates ``turn_start``/``turn_end``; completed turns go into ``timeline`` buckets too."""

    def __init__(self, timeline: Timeline, agents: set[str]) -> None:
        self.timeline = timeline
        self.agents = agents
        self.turns: dict[str, _Turn] = {}
        self.sessions: set[tuple[str, int]] = set()
        self.chains: dict[str, _Chain] = {}
        self.starts = 0
        self.outcomes: Counter[str] = Counter()
        self.gap50 = LogHistogram()
        self.gap99 = LogHistogram()
        self.tps = LogHistogram()
        self.output_tokens = self.input_tokens = self.cached_tokens = 0
        self.digests_compared = 0
        self.not_found = self.not_found_resent = 0
        self.mismatches = FindingSet()
        self.chain_breaks = FindingSet()
        self.not_found_unanswered = FindingSet()
        self.fallbacks: Counter[str] = Counter()
        self.transports: Counter[str] = Counter()

    def _turn(self, turn: str, agent: str) -> _Turn:
        t = self.turns.get(turn)
        if t is None:
            t = self.turns[turn] = _Turn(agent)
        return t

    def start(self, e: ev.TurnStart) -> None:
        self.starts += 1
        t = self._turn(e.turn, e.agent)
        t.started = True
        t.agent, t.session, t.index = e.agent, e.session, e.index
        if e.agent in self.fallbacks:
            t.after_fallback = True
        self.sessions.add((e.agent, e.session))
        chain = self.chains.get(e.agent)
        if chain is None:
            self.agents.add(e.agent)
            chain = self.chains[e.agent] = _Chain(e.session)
        elif chain.session != e.session:
            chain.session, chain.last_response = e.session, None
        prev = e.previous_response_id
        pending = chain.not_found_pending
        if pending is not None:
            # The answer is a full resend as the same session's next attempt of that turn (or its next
            # turn); the first turn of a later session is a new conversation, not an answer.
            chain.not_found_pending = None
            p_session, p_index = pending
            same = p_session == e.session and p_index is not None and e.index in (p_index, p_index + 1)
            if same and prev is None and e.input_mode == ev.InputMode.FULL:
                self.not_found_resent += 1
            else:
                self.not_found_unanswered.add(e.agent, e.turn)
        elif prev is not None and prev != chain.last_response:
            self.chain_breaks.add(e.agent, e.turn)

    def end(self, e: ev.TurnEnd) -> None:
        outcome = e.outcome
        self.outcomes[outcome.value] += 1
        t = self._turn(e.turn, e.agent)
        t.last, t.last_error = outcome, e.error_code
        if outcome == ev.Outcome.CUT:
            t.cuts += 1
        if outcome in ev.GOOD_OUTCOMES:
            self._good_end(e, t)
        elif outcome == ev.Outcome.STOPPED:
            t.ended = t.stopped = True
        else:
            t.ended = True
            if outcome in ev.FAILED_OUTCOMES:
                self.timeline.at(e.mono).failures += 1
        if e.error_code == NOT_FOUND:
            self.not_found += 1
            chain = self.chains.get(e.agent)
            if chain is not None:
                chain.not_found_pending = (e.session if e.session is not None else t.session,
                                           e.index if e.index is not None else t.index)

    def fallback(self, e: ev.TransportFallback) -> None:
        """The agent switched transport: its later turns are checked as turns after a fallback."""
        self.fallbacks[e.agent] += 1
        self.agents.add(e.agent)

    def abandon(self, e: ev.TurnAbandon) -> None:
        t = self._turn(e.turn, e.agent)
        t.cause, t.attempts = e.cause, e.attempts
        if e.error_code is not None:
            t.last_error = e.error_code

    def _good_end(self, e: ev.TurnEnd, t: _Turn) -> None:
        t.ended = True
        t.good_ends += 1
        self.transports[e.transport.value] += 1
        chain = self.chains.get(e.agent)
        if chain is not None and e.response_id is not None:
            chain.last_response = e.response_id
        b = self.timeline.at(e.mono)
        b.turns += 1
        b.latency.add(e.duration_ms)
        if e.ttft_ms is not None:
            b.ttft.add(e.ttft_ms)
        if e.cache is not None:
            b.cache[e.cache] += 1
        for hist, v in ((self.gap50, e.gap_p50_ms), (self.gap99, e.gap_p99_ms), (self.tps, e.tokens_per_s)):
            if v is not None:
                hist.add(v)
        self.output_tokens += e.output_tokens
        self.input_tokens += e.input_tokens
        self.cached_tokens += e.cached_tokens
        if e.server_digest is not None and e.client_digest is not None:
            self.digests_compared += 1
            if e.server_digest != e.client_digest:
                self.mismatches.add(e.agent, e.turn)

    def integrity(self, failed_recoveries: FindingSet) -> Integrity:
        lost, duplicated = FindingSet(), FindingSet()
        fb_lost, fb_dup = FindingSet(), FindingSet()
        fb_turns = fb_done = 0
        never_ended = 0
        how: Counter[str] = Counter()
        for turn, t in self.turns.items():
            if t.started and not t.good_ends and not t.stopped:
                lost.add(t.agent, turn)
                how[t.loss()] += 1
                if not t.ended:  # no turn_end at all: in flight when the ledger ends
                    never_ended += 1
            if t.good_ends > 1:
                duplicated.add(t.agent, turn)
            if t.after_fallback:
                fb_turns += 1
                fb_done += t.good_ends == 1
                if t.started and not t.good_ends and not t.stopped:
                    fb_lost.add(t.agent, turn)
                if t.good_ends > 1:
                    fb_dup.add(t.agent, turn)
        return Integrity(
            digests_compared=self.digests_compared,
            digest_mismatches=self.mismatches.freeze(),
            lost_turns=lost.freeze(),
            never_ended_turns=never_ended,
            lost_how=dict(how.most_common()),
            duplicated_turns=duplicated.freeze(),
            chain_breaks=self.chain_breaks.freeze(),
            not_found=self.not_found,
            not_found_resent=self.not_found_resent,
            not_found_unanswered=self.not_found_unanswered.freeze(),
            failed_recoveries=failed_recoveries.freeze(),
            fallback_turns=fb_turns,
            fallback_completed=fb_done,
            fallback_lost=fb_lost.freeze(),
            fallback_duplicated=fb_dup.freeze(),
        )
