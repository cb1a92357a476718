"""Phone calls: the company's Twilio account (`/integrations/twilio`), its numbers
(`/phone-numbers`), calls placed to a number (`/phone-calls`), handing a live call to a person
(`/conversations/{id}/transfer`), and the webhooks Twilio sends (`/telephony/twilio/...`,
signed, no API key)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from telephony.twilio import TwilioCredentials

from ...schemas.phone import (
    PhoneCallIn,
    PhoneCallPlaced,
    PhoneNumberIn,
    PhoneNumberList,
    PhoneNumberOut,
    PhoneNumberUpdate,
    TransferIn,
    TwilioAccountIn,
    TwilioCheck,
    TwilioStatus,
)
from ...services import phone
from ...services.agents import find_agent
from ...services.refusal import Refused
from ...store.repositories import (
    ConversationRepository,
    PhoneNumberRepository,
    ProviderKeyRepository,
)
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import ADMIN, GuardedRoute

router = APIRouter(tags=["phone"], route_class=GuardedRoute)

TWIML = "application/xml"


# --- the Twilio account -------------------------------------------------------------------------


@router.get(
    "/integrations/twilio", responses=error_responses(401, 403, 409, 429), dependencies=[ADMIN]
)
async def twilio_status(
    session: SessionDep, company_id: CompanyDep, vault: VaultDep
) -> TwilioStatus:
    """Whether a Twilio account is connected (its auth token only ever masked)."""
    credentials = await phone.credentials_of(session, vault, company_id)
    if credentials is None:
        return TwilioStatus(connected=False)
    record = await ProviderKeyRepository(session).get(company_id=company_id, provider="twilio")
    return TwilioStatus(
        connected=True,
        account_sid=credentials.account_sid,
        masked_auth_token=record.masked if record else None,
    )


@router.post(
    "/integrations/twilio",
    responses=error_responses(400, 401, 403, 429, 502),
    dependencies=[ADMIN],
)
async def twilio_connect(
    body: TwilioAccountIn,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    vault: VaultDep,
) -> TwilioStatus:
    """Connect the company's Twilio account: checked with Twilio, then stored encrypted."""
    credentials = TwilioCredentials(body.account_sid, body.auth_token)
    await phone.check_credentials(settings, credentials)
    await phone.save_credentials(session, vault, company_id, credentials)
    await session.commit()
    return TwilioStatus(
        connected=True,
        account_sid=credentials.account_sid,
        masked_auth_token="***" + body.auth_token[-4:],
    )


@router.post(
    "/integrations/twilio/test",
    responses=error_responses(400, 401, 403, 429, 502),
    dependencies=[ADMIN],
)
async def twilio_test(
    body: TwilioAccountIn, settings: SettingsDep, company_id: CompanyDep
) -> TwilioCheck:
    """Whether Twilio accepts these credentials; nothing is saved."""
    try:
        account = await phone.check_credentials(
            settings, TwilioCredentials(body.account_sid, body.auth_token)
        )
    except Refused as exc:
        if exc.status == 400:
            return TwilioCheck(valid=False)
        raise
    return TwilioCheck(valid=True, friendly_name=account.get("friendly_name"))


@router.delete(
    "/integrations/twilio",
    status_code=204,
    responses=error_responses(401, 403, 404, 429),
    dependencies=[ADMIN],
)
async def twilio_disconnect(session: SessionDep, company_id: CompanyDep) -> Response:
    if not await ProviderKeyRepository(session).delete(company_id=company_id, provider="twilio"):
        raise Refused(404, "no Twilio account is connected")
    await session.commit()
    return Response(status_code=204)


# --- phone numbers ------------------------------------------------------------------------------


@router.get("/phone-numbers", responses=error_responses(401, 429))
async def list_numbers(session: SessionDep, company_id: CompanyDep) -> PhoneNumberList:
    rows = await PhoneNumberRepository(session).list(company_id=company_id)
    return PhoneNumberList(
        phone_numbers=[PhoneNumberOut.model_validate(r, from_attributes=True) for r in rows]
    )


@router.post("/phone-numbers", status_code=201, responses=error_responses(400, 401, 404, 409, 429))
async def add_number(
    body: PhoneNumberIn, session: SessionDep, company_id: CompanyDep
) -> PhoneNumberOut:
    """A number of the company's Twilio account, and the agent that answers its calls (in
    Twilio, point the number's voice webhook at `POST /telephony/twilio/voice`)."""
    number = phone.check_number(body.number, "number")
    if body.agent_id is not None:
        await find_agent(session, company_id, str(body.agent_id), field="agent_id")
    repo = PhoneNumberRepository(session)
    if await repo.by_number(number) is not None:
        raise Refused(409, f"number: {number} is already registered", field="number")
    try:
        row = await repo.create(
            company_id=company_id,
            number=number,
            agent_id=body.agent_id,
            label=body.label,
            provider="twilio",
        )
        await session.commit()
    except IntegrityError:  # registered meanwhile
        await session.rollback()
        raise Refused(409, f"number: {number} is already registered", field="number") from None
    return PhoneNumberOut.model_validate(row, from_attributes=True)


async def _number(session: SessionDep, company_id: uuid.UUID, number_id: uuid.UUID):
    row = await PhoneNumberRepository(session).get(company_id=company_id, number_id=number_id)
    if row is None:
        raise Refused(404, "Phone number not found")
    return row


@router.put("/phone-numbers/{number_id}", responses=error_responses(400, 401, 404, 429))
async def update_number(
    number_id: uuid.UUID, body: PhoneNumberUpdate, session: SessionDep, company_id: CompanyDep
) -> PhoneNumberOut:
    row = await _number(session, company_id, number_id)
    if "agent_id" in body.model_fields_set:
        if body.agent_id is not None:
            await find_agent(session, company_id, str(body.agent_id), field="agent_id")
        row.agent_id = body.agent_id
    if "label" in body.model_fields_set:
        row.label = body.label
    await session.commit()
    return PhoneNumberOut.model_validate(row, from_attributes=True)


@router.delete(
    "/phone-numbers/{number_id}", status_code=204, responses=error_responses(400, 401, 404, 429)
)
async def delete_number(
    number_id: uuid.UUID, session: SessionDep, company_id: CompanyDep
) -> Response:
    row = await _number(session, company_id, number_id)
    await PhoneNumberRepository(session).delete(row)
    await session.commit()
    return Response(status_code=204)


# --- calls --------------------------------------------------------------------------------------


@router.post(
    "/phone-calls", status_code=201, responses=error_responses(400, 401, 404, 409, 429, 502)
)
async def place_call(
    body: PhoneCallIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    vault: VaultDep,
) -> PhoneCallPlaced:
    """Call a number with an agent: the call's record (`GET /conversations/{id}`: its
    `phone_number`, `direction` and `telephony_status` as Twilio reports it) and Twilio's call.
    Busy, unanswered and failed calls close as `failed` with that `end_reason`."""
    row = await phone.place_call(
        session,
        settings,
        vault,
        company_id,
        agent_id=body.agent_id,
        to=body.to,
        from_=body.from_,
        context=body.initial_context,
        base_url=str(request.url),
    )
    return PhoneCallPlaced(
        conversation_id=row.id,
        call_id=row.provider_call_id or "",
        status="initiated",
        to=row.phone_number or body.to,
    )


@router.post(
    "/conversations/{conversation_id}/transfer",
    status_code=202,
    responses=error_responses(400, 401, 404, 409, 429, 502),
)
async def transfer_call(
    conversation_id: str,
    body: TransferIn,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    vault: VaultDep,
) -> dict[str, str]:
    """Hand a live phone call to a person's number: Twilio dials it in place of the agent,
    `agent.handoff` fires, the record ends `transferred`."""
    row = await ConversationRepository(session).get(
        company_id=company_id, conversation_id=conversation_id
    )
    if row is None:
        raise Refused(404, "Conversation not found")
    await phone.transfer(session, settings, vault, row, to=body.to, reason=body.reason)
    return {"conversation_id": row.id, "status": "transferring", "to": row.transfer_to or body.to}


# --- Twilio's webhooks --------------------------------------------------------------------------


async def _webhook(request: Request, settings: SettingsDep) -> phone.Webhook:
    form = await request.form()
    url = str(request.url)
    if settings.public_url:
        query = f"?{request.url.query}" if request.url.query else ""
        url = settings.public_url.rstrip("/") + request.url.path + query
    params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return phone.Webhook(url, params, request.headers.get("x-twilio-signature"))


@router.post("/telephony/twilio/voice", include_in_schema=False)
async def twilio_voice(
    request: Request, session: SessionDep, settings: SettingsDep, vault: VaultDep
) -> Response:
    """A call to one of the companies' numbers (the number's voice webhook in Twilio)."""
    hook = await _webhook(request, settings)
    twiml = await phone.answer_incoming(session, settings, vault, hook)
    return Response(twiml, media_type=TWIML)


@router.post("/telephony/twilio/status", include_in_schema=False)
async def twilio_status_callback(
    conversation_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
) -> Response:
    hook = await _webhook(request, settings)
    await phone.call_status(session, vault, conversation_id, hook)
    return Response(status_code=204)


@router.post("/telephony/twilio/after-stream", include_in_schema=False)
async def twilio_after_stream(
    conversation_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
) -> Response:
    hook = await _webhook(request, settings)
    return Response(
        await phone.after_stream(session, vault, conversation_id, hook), media_type=TWIML
    )
