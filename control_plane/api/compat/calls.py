"""`/v1/api/make-call`: seed 001's outgoing phone call, in its envelope (the same call as
`POST /phone-calls`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...schemas.envelope import envelope_of, ok
from ...schemas.phone import MakeCallIn, MakeCallOut
from ...services import phone
from ...services.calls import check_context
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute

router = APIRouter(prefix="/v1/api", tags=["calls"], route_class=SeedRoute)


@router.post(
    "/make-call",
    responses=error_responses(400, 401, 404, 409, 429, 502),
    response_model=envelope_of(MakeCallOut),
)
async def make_call(
    body: MakeCallIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    vault: VaultDep,
) -> dict[str, Any]:
    """Call `phone_number` with the agent; `call_id` is the conversation's id
    (`GET /v1/api/conversations/{call_id}`)."""
    check_context(body.context, "context")
    row = await phone.place_call(
        session,
        settings,
        vault,
        company_id,
        agent_id=body.agent_id,
        to=body.phone_number,
        from_=None,
        context=body.context,
        base_url=str(request.url),
    )
    return ok(MakeCallOut(call_id=row.id, status="initiated").model_dump(), "Call initiated")
