"""FastAPI dependencies: the app context, the per-request session, and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.auth import Principal, Role, check_role
from perfpilot.core.context import AppContext
from perfpilot.core.db import session_scope
from perfpilot.core.errors import Unauthorized
from perfpilot.core.ratelimit import RouteClass

bearer_scheme = HTTPBearer(auto_error=False, description="JWT: `perfpilot token --role admin`")


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _context(request: Request) -> AppContext:
    # async: FastAPI runs a plain `def` dependency in a thread pool, a thread hop per request
    return get_context(request)


ContextDep = Annotated[AppContext, Depends(_context)]


READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request, ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    """GET and HEAD read (their own connections); every other method may write, so it takes
    the write side (on SQLite: queues for the one write connection at its first statement)."""
    sessions = ctx.readers if request.method in READ_METHODS else ctx.sessionmaker
    async for session in session_scope(sessions):
        yield session


# scope="function": commit before the response is sent, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(
    ctx: AppContext, authorization: str | None, *, client: str, state: dict[str, Any]
) -> Principal:
    """The principal of an `Authorization: Bearer` header; 401 otherwise (and the failed
    attempt counts against the anonymous limit of the client's address)."""
    try:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Missing bearer token (Authorization: Bearer <jwt>)")
        principal = ctx.tokens.verify(token.strip())
    except Unauthorized:
        # unauthenticated callers are limited per address, so guessing is throttled
        status = await ctx.limiter.hit("anonymous", client)
        if status is not None:
            state["ratelimit"] = status.headers()
        raise
    state["principal"] = principal
    return principal


class Authorize:
    """Authenticate the bearer token, count it against its rate limit, check the role.

    Requests with a body were already authenticated by RequestFrameMiddleware, before the body
    was read or parsed (so a bad body never answers an unauthenticated client): their
    principal is taken from the request state."""

    def __init__(self, role: Role, route_class: RouteClass) -> None:
        self.role = role
        self.route_class = route_class

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> Principal:
        ctx = get_context(request)
        state = request.scope.setdefault("state", {})
        principal = state.get("principal")
        if not isinstance(principal, Principal):
            header = None
            if credentials is not None:
                header = f"{credentials.scheme} {credentials.credentials}"
            principal = await authenticate(
                ctx, header, client=_client_address(request), state=state
            )
        return await self.admit(ctx, principal, state)

    async def admit(
        self, ctx: AppContext, principal: Principal, state: dict[str, Any]
    ) -> Principal:
        """Count an authenticated request against its rate limit, then check its role."""
        status = await ctx.limiter.hit(self.route_class, principal.subject)
        if status is not None:
            state["ratelimit"] = status.headers()
        check_role(principal, self.role)
        return principal


ViewerAuth = Annotated[Principal, Depends(Authorize(Role.viewer, "read"))]
OperatorAuth = Annotated[Principal, Depends(Authorize(Role.operator, "write"))]
authorize_ingest = Authorize(Role.operator, "ingest")  # also called by metrics/sample_route.py
IngestAuth = Annotated[Principal, Depends(authorize_ingest)]
AdminAuth = Annotated[Principal, Depends(Authorize(Role.admin, "write"))]
