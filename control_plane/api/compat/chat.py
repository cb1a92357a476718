"""`/v1/api/agents/{id}/chat`: seed 001's test chat, in its envelope.

The agent answers as on a call (`services.chat`): its prompt, knowledge and tools; the chat
is stored as a conversation of channel `chat`, continued by its `session_id`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from ...agent_loader import AgentUnavailableError, ready_agent
from ...schemas.chat import AgentChat, AgentChatReply
from ...schemas.envelope import envelope_of, ok
from ...services.chat import ChatError, ChatTurn, open_chat
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from .common import company_agent, seed_error

router = APIRouter(prefix="/v1/api", tags=["Chat"], route_class=SeedRoute)

MAX_CONTEXT_BYTES = 8192


@router.post(
    "/agents/{id}/chat",
    responses=error_responses(400, 401, 404, 409, 429, 502),
    response_model=envelope_of(AgentChatReply),
)
async def agent_chat(
    id: str,
    body: AgentChat,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Send the agent a message and get its answer, as it would answer on a call."""
    stored = await company_agent(session, company_id, id, field="id")
    if len(json.dumps(body.context)) > MAX_CONTEXT_BYTES:
        raise seed_error(400, f"at most {MAX_CONTEXT_BYTES} bytes of JSON", field="context")
    try:
        agent = await ready_agent(session, stored.id, lambda: vault, company_id=company_id)
        conversation = await open_chat(
            session,
            agent,
            session_id=body.session_id,
            user_id=body.session_id or "chat",
            context=body.context,
        )
    except AgentUnavailableError as exc:
        raise seed_error(409, str(exc), "AGENT_UNAVAILABLE", "id") from None
    except ChatError as exc:
        raise seed_error(exc.status, str(exc), field="session_id") from None
    turn = ChatTurn(request.app.state.chat_models, agent, conversation, body.message)
    await session.close()  # the turn writes through sessions of its own; free this connection
    try:
        async for _ in turn.run():
            pass
    except Exception as exc:
        raise seed_error(
            502, f"the agent's model failed: {turn.result.error}", "UPSTREAM_ERROR"
        ) from exc
    return ok(
        {
            "response": turn.result.text,
            "session_id": conversation.session_id,
            "conversation_id": conversation.id,
            "tools_used": [use["name"] for use in turn.result.tools],
            "confidence": turn.result.best_score,
        }
    )
