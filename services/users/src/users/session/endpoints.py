"""``/auth/logout``, ``/auth/logout-all`` and ``/auth/sessions``: the caller's sessions."""

from __future__ import annotations

import uuid

from fastapi import Response

from servicekit.http import CurrentPrincipal, DbSession, ServiceRouter, problem_responses
from users.session import service
from users.session.deps import Denylist
from users.session.schemas import SessionRead
from users.token.deps import Settings

__all__ = ["router"]

router = ServiceRouter(tags=["sessions"])


@router.post(
    "/auth/logout",
    status_code=204,
    summary="Log out this session",
    responses=problem_responses(401, 503),
)
async def log_out(
    principal: CurrentPrincipal, db: DbSession, revocations: Denylist, settings: Settings
) -> Response:
    """End the session of this access token: its access and refresh tokens stop working,
    in every service, before this answers."""
    await service.end_sessions(
        db,
        revocations,
        principal.user_id,
        settings=settings.auth,
        only=[uuid.UUID(principal.session_id)],
        token=principal,
    )
    return Response(status_code=204)


@router.post(
    "/auth/logout-all",
    status_code=204,
    summary="Log out every session",
    responses=problem_responses(401, 503),
)
async def log_out_everywhere(
    principal: CurrentPrincipal, db: DbSession, revocations: Denylist, settings: Settings
) -> Response:
    """End every session of the caller, this one included, on every device."""
    await service.end_sessions(
        db, revocations, principal.user_id, settings=settings.auth, token=principal
    )
    return Response(status_code=204)


@router.get(
    "/auth/sessions",
    response_model=list[SessionRead],
    summary="The caller's sessions",
    responses=problem_responses(401, 503),
)
async def list_sessions(
    principal: CurrentPrincipal, db: DbSession, settings: Settings
) -> list[SessionRead]:
    """Every session of the caller that has not ended, newest first; `current` marks the
    one of this access token."""
    sessions = await service.live_sessions(db, principal.user_id, settings=settings.auth)
    return [
        SessionRead(
            id=session.id,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            user_agent=session.user_agent,
            ip=None if session.ip is None else str(session.ip),
            current=str(session.id) == principal.session_id,
        )
        for session in sessions
    ]


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=204,
    summary="End one of the caller's sessions",
    responses=problem_responses(401, 404, 503),
)
async def end_session(
    session_id: uuid.UUID,
    principal: CurrentPrincipal,
    db: DbSession,
    revocations: Denylist,
    settings: Settings,
) -> Response:
    """End that session (a lost phone, say); 404 for an id that is not one of the caller's
    live sessions."""
    await service.end_session(
        db, revocations, principal.user_id, session_id, settings=settings.auth
    )
    return Response(status_code=204)
