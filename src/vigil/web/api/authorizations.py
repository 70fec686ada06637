"""Authorizations: the legal authority each watchlist needs (supervisors and admins manage them)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from vigil.db.models import Authorization
from vigil.domain.enums import AuthorizationStatus, Role
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.web.deps import MANAGERS, Principal, require_roles, web_state
from vigil.web.schemas import AuthorizationCreate, AuthorizationPublic, EntityId, Purged

router = APIRouter(tags=["authorizations"])
managers = require_roles(*MANAGERS)
readers = require_roles(*MANAGERS, Role.auditor)


def _service(request: Request) -> AuthorizationService:
    return AuthorizationService(web_state(request).context.db)


def _by_id(request: Request, auth_id: EntityId) -> Authorization:
    with web_state(request).context.db.read() as s:
        return AuthorizationRepo(s).get_by_id(auth_id)


@router.get(
    "/authorizations", response_model=list[AuthorizationPublic], summary="List authorizations"
)
def list_authorizations(
    request: Request, _u: Principal = Depends(readers)
) -> list[AuthorizationPublic]:
    return [AuthorizationPublic.model_validate(a) for a in _service(request).list()]


@router.post(
    "/authorizations",
    response_model=AuthorizationPublic,
    status_code=201,
    summary="Record an authorization (legal basis, authority, reference, purpose, scope, expiry)",
)
def create_authorization(
    body: AuthorizationCreate, request: Request, user: Principal = Depends(managers)
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
    return AuthorizationPublic.model_validate(_service(request).create(data, actor=user.username))


@router.get(
    "/authorizations/{auth_id}", response_model=AuthorizationPublic, summary="One authorization"
)
def get_authorization(
    auth_id: EntityId, request: Request, _u: Principal = Depends(readers)
) -> AuthorizationPublic:
    return AuthorizationPublic.model_validate(_by_id(request, auth_id))


def _end(request: Request, auth_id: EntityId, status: AuthorizationStatus, actor: str) -> Purged:
    reference = _by_id(request, auth_id).reference
    return Purged(**_service(request).end(reference, status, actor=actor))


@router.post(
    "/authorizations/{auth_id}/revoke",
    response_model=Purged,
    summary="Revoke: purges every template, subject and alert found under it",
)
def revoke_authorization(
    auth_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> Purged:
    return _end(request, auth_id, AuthorizationStatus.revoked, user.username)


@router.post(
    "/authorizations/{auth_id}/refuse",
    response_model=Purged,
    summary="Record that the authority refused it: purges everything found under it",
)
def refuse_authorization(
    auth_id: EntityId, request: Request, user: Principal = Depends(managers)
) -> Purged:
    return _end(request, auth_id, AuthorizationStatus.refused, user.username)
