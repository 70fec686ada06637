"""The command center's link to one camera actor (Ray engine): what it asked and what it heard.

Ray runs a normal actor's calls one at a time, in the order they were made. A command center
that asked every actor for its report and its delivery each round, answered or not, would pile
an ever longer queue of calls onto an actor too busy to keep up, and every later call (a new
gallery release among them) would wait behind all of them. So :meth:`CameraLink.ask` keeps at
most one ``report`` and one ``take`` call in flight per actor: a new one is asked only once the
previous one answered, or after :data:`ABANDON_SECONDS` without an answer (an actor that was
lost and restarted can lose a call). The round waits for all actors together, briefly; what
answers later is collected in a later round.

Exactly once: ``take`` hands over candidates and sighting updates that stay on the actor until a
receipt acknowledges them (a repeated take repeats them, the command center stores each once by
its delivery key), but per-minute counts only once. So an abandoned take is not forgotten: its
answer, should it come, is still collected (:attr:`CameraLink.late_takes`, the oldest beyond
:data:`LATE_TAKES` given up with a warning).

``set_gallery`` and ``stop`` do not queue behind these calls: they go to the actor's ``control``
concurrency group (:data:`CONTROL_GROUP`), a thread of its own on the actor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

from vigil.runtime.wire import ActorReport, Delivery
from vigil.services.camera_sessions import SessionInfo
from vigil.sources.worker import CameraState, CameraStatus

log = logging.getLogger(__name__)
ABANDON_SECONDS = 120.0  # a call unanswered this long no longer holds back a new one
CALL_SECONDS = 5.0  # an actor silent this long (with a call in flight) is shown unreachable
LATE_TAKES = 4  # abandoned takes whose answer is still collected, per actor
CONTROL_GROUP = "control"  # the actor's concurrency group for set_gallery and stop
CONCURRENCY_GROUPS = {CONTROL_GROUP: 1}


def control(method: Any) -> Any:
    """``method`` (an actor method handle) called in the actor's control group."""
    return method.options(concurrency_group=CONTROL_GROUP)


@dataclass
class Call:
    """One call in flight: its object ref and when it was asked (monotonic seconds)."""

    ref: Any
    asked_at: float


@dataclass
class Answers:
    """What one actor answered since the last round."""

    report: ActorReport | None = None
    report_asked_at: float = float("-inf")
    deliveries: list[Delivery] = field(default_factory=list)  # in the order they were asked
    error: str | None = None  # the last call that failed (actor lost or restarting)

    @property
    def any(self) -> bool:
        return self.report is not None or bool(self.deliveries)


class CameraLink:
    """One camera actor as the command center sees it: its handle, its calls in flight and what
    it last reported."""

    def __init__(
        self, name: str, handle: Any, session: SessionInfo | None, now: float = 0.0
    ) -> None:
        self.name = name
        self.handle = handle
        self.session = session
        self.report: ActorReport | None = None
        self.unreachable: str | None = None
        self.stored = 0
        self.sent: tuple[str, int] | None = None  # the last gallery release sent (origin, version)
        self.sent_at = float("-inf")  # when it was sent
        self.report_call: Call | None = None
        self.take_call: Call | None = None
        self.late_takes: list[Call] = []
        self.heard_at = now  # the last answer (or the link's creation)

    def status(self) -> CameraStatus | None:
        if self.report is None:
            return None
        status = self.report.status
        if self.unreachable is not None:
            status = replace(status, state=CameraState.RECONNECTING, last_error=self.unreachable)
        return status

    def ask(self, now: float, *, fresh: bool = False) -> None:
        """Ask for a report and a delivery unless such a call is still in flight (younger than
        :data:`ABANDON_SECONDS`); ``fresh`` asks anew regardless (the last round of a stop)."""
        report, take = self.report_call, self.take_call
        if report is None or fresh or now - report.asked_at > ABANDON_SECONDS:
            if report is not None:
                log.warning("camera %s: report unanswered, asked again", self.name)
            self.report_call = Call(self.handle.report.remote(), now)
        if take is None or fresh or now - take.asked_at > ABANDON_SECONDS:
            if take is not None:  # its answer still counts, should it come
                self.late_takes.append(take)
                if len(self.late_takes) > LATE_TAKES:
                    self.late_takes.pop(0)
                    log.warning("camera %s: an unanswered delivery given up", self.name)
            self.take_call = Call(self.handle.take.remote(10**6), now)

    def outstanding(self) -> list[Any]:
        """The refs of every call in flight, for the round's wait."""
        calls = [self.report_call, self.take_call, *self.late_takes]
        return [call.ref for call in calls if call is not None]

    def answers(self, ready: Collection[Any], get: Callable[[Any], Any], now: float) -> Answers:
        """Collect the calls among ``ready`` (answered); the others stay in flight."""
        found = Answers()
        for call in [*self.late_takes, self.take_call]:  # in the order asked
            if call is None or call.ref not in ready:
                continue
            self._drop(call)
            try:
                found.deliveries.append(get(call.ref))
            except Exception as exc:  # lost or restarting: asked again next round
                found.error = f"camera actor unreachable: {type(exc).__name__}"
        call = self.report_call
        if call is not None and call.ref in ready:
            self.report_call = None
            try:
                found.report, found.report_asked_at = get(call.ref), call.asked_at
            except Exception as exc:
                found.error = f"camera actor unreachable: {type(exc).__name__}"
        self._heard(found, now)
        return found

    def _drop(self, call: Call) -> None:
        if call is self.take_call:
            self.take_call = None
        else:
            self.late_takes.remove(call)

    def _heard(self, found: Answers, now: float) -> None:
        if found.report is not None:
            self.report = found.report
        if found.error is not None:
            self.unreachable = found.error
        elif found.any:
            self.heard_at, self.unreachable = now, None
        elif now - self.heard_at > CALL_SECONDS and self.outstanding():
            self.unreachable = f"camera actor unreachable: no answer for {CALL_SECONDS:g} s"
