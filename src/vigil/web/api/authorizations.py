"""Authorizations: the legal authority each watchlist needs (supervisors and admins manage them)."""

from __future__ import annotations

from fastapi import APIRouter

from vigil.domain.enums import AuthorizationStatus
from vigil.services.authorizations import AuthorizationInput
from vigil.web.deps import Authorizations, Manager, ManagerOrAuditor
from vigil.web.schemas import AuthorizationCreate, AuthorizationPublic, EntityId, Purged

router = APIRouter(tags=["authorizations"])


@router.get(
    "/authorizations", response_model=list[AuthorizationPublic], summary="List authorizations"
)
def list_authorizations(
    authorizations: Authorizations, _u: ManagerOrAuditor
) -> list[AuthorizationPublic]:
    return [AuthorizationPublic.model_validate(a) for a in authorizations.list()]


@router.post(
    "/authorizations",
    response_model=AuthorizationPublic,
    status_code=201,
    summary="Record an authorization (legal basis, authority, reference, purpose, scope, expiry)",
)
def create_authorization(
    body: AuthorizationCreate, authorizations: Authorizations, user: Manager
) -> AuthorizationPublic:
    data = AuthorizationInput(
        reference=body.reference,
        purpose=body.purpose.value,
        legal_basis=body.legal_basis,
        authority=body.authority,
        expires_at=body.expires_at,
        valid_from=body.valid_from,
        cameras=tuple(body.cameras) if body.cameras is not None else None,
    )
    return AuthorizationPublic.model_validate(authorizations.create(data, actor=user.username))


@router.get(
    "/authorizations/{auth_id}", response_model=AuthorizationPublic, summary="One authorization"
)
def get_authorization(
    auth_id: EntityId, authorizations: Authorizations, _u: ManagerOrAuditor
) -> AuthorizationPublic:
    return AuthorizationPublic.model_validate(authorizations.get_by_id(auth_id))


@router.post(
    "/authorizations/{auth_id}/revoke",
    response_model=Purged,
    summary="Revoke: purges every template, subject and alert found under it",
)
def revoke_authorization(
    auth_id: EntityId, authorizations: Authorizations, user: Manager
) -> Purged:
    return Purged(
        **authorizations.end_by_id(auth_id, AuthorizationStatus.revoked, actor=user.username)
    )


@router.post(
    "/authorizations/{auth_id}/refuse",
    response_model=Purged,
    summary="Record that the authority refused it: purges everything found under it",
)
def refuse_authorization(
    auth_id: EntityId, authorizations: Authorizations, user: Manager
) -> Purged:
    return Purged(
        **authorizations.end_by_id(auth_id, AuthorizationStatus.refused, actor=user.username)
    )
