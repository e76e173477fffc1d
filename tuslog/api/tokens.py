"""Upload tokens: issue (the token once, with the customer's commands), list, get, update
(uses, lifetime; If-Match), revoke. The token itself is never listed."""

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tuslog.api import schemas
from tuslog.api.etags import etag, matched_revision
from tuslog.api.routing import Call, Operation, Reply
from tuslog.db.models import UploadToken, utcnow
from tuslog.http.client import base_url
from tuslog.http.uploaders import commands_for
from tuslog.services import revisions, tokens
from tuslog.services.apikeys import READ, WRITE


def token_status(token: UploadToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= utcnow():
        return "expired"
    return "used up" if token.uses >= token.max_uses else "active"


def token_fields(token: UploadToken, ticket: str) -> dict[str, Any]:
    return {
        "prefix": token.prefix,
        "ticket": ticket,
        "status": token_status(token),
        "uses": token.uses,
        "max_uses": token.max_uses,
        "max_bytes": token.max_bytes,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "last_used_ip": token.last_used_ip,
    }


def token_reply(token: UploadToken, ticket: str) -> Reply:
    body = schemas.Token(**token_fields(token, ticket))
    return Reply(body, headers={"ETag": etag(revisions.token_revision(token))})


async def issue_token(call: Call[None, schemas.TokenIssue]) -> Reply:
    body, settings = call.body, call.settings
    async with call.db.begin() as session:
        issued = await tokens.issue(
            session,
            call.path("number"),
            uploads=body.max_uses or settings.token_uploads,
            ttl=timedelta(seconds=body.expires_in) if body.expires_in else settings.token_ttl,
            max_bytes=body.max_bytes,
            actor=call.caller.actor,
        )
    base = base_url(call.request)
    answer = schemas.IssuedToken(
        **token_fields(issued.record, issued.ticket),
        token=issued.token,
        commands=schemas.UploaderCommands(**commands_for(base, issued.token)),
        browser_url=f"{base}/upload#{issued.token}",
    )
    headers = {
        "ETag": etag(revisions.token_revision(issued.record)),
        "Location": f"/api/v1/tokens/{issued.record.prefix}",
    }
    return Reply(answer, 201, headers)


async def list_tokens(call: Call[schemas.TokenQuery, None]) -> Reply:
    async with call.db.session() as session:
        found = await tokens.list_for(session, call.query.ticket)
    items = [schemas.Token(**token_fields(token, number)) for token, number in found]
    return Reply(schemas.TokenList(items=items))


async def list_ticket_tokens(call: Call[None, None]) -> Reply:
    async with call.db.session() as session:
        found = await tokens.list_for(session, call.path("number"))
    items = [schemas.Token(**token_fields(token, number)) for token, number in found]
    return Reply(schemas.TokenList(items=items))


async def get_token(call: Call[None, None]) -> Reply:
    async with call.db.session() as session:
        token = await tokens.find(session, call.path("prefix"))
        number = await tokens.ticket_number(session, token)
    return token_reply(token, number)


async def _claimed(call: Call[Any, Any], session: AsyncSession) -> UploadToken:
    token = await tokens.find(session, call.path("prefix"))
    if call.if_match is not None:
        seen = matched_revision(call.if_match, revisions.token_revision(token))
        await revisions.claim_token(session, token, seen)
    return token


async def update_token(call: Call[None, schemas.TokenPatch]) -> Reply:
    body = call.body
    async with call.db.begin() as session:
        token = await _claimed(call, session)
        token = await tokens.update(
            session,
            token.prefix,
            uploads=body.max_uses,
            ttl=timedelta(seconds=body.expires_in) if body.expires_in else None,
            actor=call.caller.actor,
        )
        await session.flush()
        number = await tokens.ticket_number(session, token)
    return token_reply(token, number)


async def revoke_token(call: Call[None, None]) -> Reply:
    """Its uploads stop at once (a PATCH streaming under it is cut). Idempotent."""
    async with call.db.begin() as session:
        token = await _claimed(call, session)
        revoked = await tokens.revoke(session, token.prefix, actor=call.caller.actor)
        await session.flush()
        number = await tokens.ticket_number(session, revoked.record)
    return token_reply(revoked.record, number)


_ERRORS = (401, 403, 404, 429)
OPERATIONS = [
    Operation(
        "POST",
        "/tickets/{number}/tokens",
        issue_token,
        "Issue an upload token",
        WRITE,
        "Tokens",
        body=schemas.TokenIssue,
        response=schemas.IssuedToken,
        status=201,
        etag=True,
        errors=(*_ERRORS, 400, 415, 422),
        description="The answer holds the token (only here), the commands the customer "
        "runs and the browser upload link. The ticket must be open.",
    ),
    Operation(
        "GET",
        "/tickets/{number}/tokens",
        list_ticket_tokens,
        "List a ticket's tokens",
        READ,
        "Tokens",
        response=schemas.TokenList,
        errors=_ERRORS,
    ),
    Operation(
        "GET",
        "/tokens",
        list_tokens,
        "List upload tokens",
        READ,
        "Tokens",
        query=schemas.TokenQuery,
        response=schemas.TokenList,
        errors=(*_ERRORS, 422),
    ),
    Operation(
        "GET",
        "/tokens/{prefix}",
        get_token,
        "Get an upload token",
        READ,
        "Tokens",
        response=schemas.Token,
        etag=True,
        errors=_ERRORS,
    ),
    Operation(
        "PATCH",
        "/tokens/{prefix}",
        update_token,
        "Change uploads allowed or lifetime",
        WRITE,
        "Tokens",
        body=schemas.TokenPatch,
        response=schemas.Token,
        etag=True,
        if_match="required",
        errors=(*_ERRORS, 400, 412, 415, 422, 428),
    ),
    Operation(
        "POST",
        "/tokens/{prefix}/revoke",
        revoke_token,
        "Revoke an upload token",
        WRITE,
        "Tokens",
        response=schemas.Token,
        etag=True,
        if_match="optional",
        errors=(*_ERRORS, 412),
    ),
]
