"""The review service on its own: the two-person rule without HTTP; what it announces on the bus
(the seam outbound delivery and the live feed listen on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertEvent
from vigil.errors import Conflict, InputError, NotFound
from vigil.services.alerts import AlertBus
from vigil.services.reviews import ReviewService


@pytest.fixture()
def service(module_env: Any) -> tuple[ReviewService, list[AlertEvent]]:
    """The service with its own bus; the list gets the CONFIRMED events (what leaves)."""
    sent: list[AlertEvent] = []
    bus = AlertBus()
    bus.subscribe(lambda e: sent.append(e) if e.kind == "confirmed" else None)
    return ReviewService(module_env.context.db, bus), sent


@pytest.fixture()
def make_alert(module_env: Any, alert_store: Callable[..., int]) -> Callable[..., int]:
    return lambda: alert_store(module_env)


@pytest.mark.parametrize(
    ("steps", "final", "error", "sent_count"),
    [
        ([("a", "confirm"), ("b", "confirm")], AlertStatus.confirmed, None, 1),
        ([("a", "confirm"), ("a", "confirm")], AlertStatus.pending_second, "already confirmed", 0),
        ([("a", "reject")], AlertStatus.rejected, None, 0),
        ([("a", "confirm"), ("b", "reject")], AlertStatus.rejected, None, 0),
        ([("a", "confirm"), ("a", "reject")], AlertStatus.rejected, None, 0),
        ([("a", "reject"), ("b", "confirm")], AlertStatus.rejected, "already rejected", 0),
        (
            [("a", "confirm"), ("b", "confirm"), ("c", "confirm")],
            AlertStatus.confirmed,
            "already confirmed",
            1,
        ),
    ],
)
def test_two_person_rule_table(
    service: tuple[ReviewService, list],
    make_alert: Callable[..., int],
    steps: list,
    final: AlertStatus,
    error: str | None,
    sent_count: int,
) -> None:
    reviews, sent = service
    alert_id = make_alert()
    raised = None
    for user, decision in steps:
        try:
            reviews.review(alert_id, user, decision, "reason given")
        except Conflict as exc:
            raised = str(exc)
    assert (raised is None) == (error is None)
    if error:
        assert error in raised
    from vigil.repositories.alerts import AlertRepo

    with reviews.db.read() as s:
        assert AlertRepo(s).get(alert_id).status is final
    assert len(sent) == sent_count


@pytest.mark.parametrize(
    ("decision", "reason", "error"),
    [("approve", "", InputError), ("reject", "", InputError), ("reject", "x" * 2001, InputError)],
)
def test_invalid_reviews(
    service: tuple[ReviewService, list],
    make_alert: Callable[..., int],
    decision: str,
    reason: str,
    error: type,
) -> None:
    with pytest.raises(error):
        service[0].review(make_alert(), "a", decision, reason)


def test_unknown_alert(service: tuple[ReviewService, list]) -> None:
    with pytest.raises(NotFound):
        service[0].review(99999, "a", "confirm")
