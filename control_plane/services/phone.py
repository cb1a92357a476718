"""Phone calls through Twilio: the company's credentials, its numbers' incoming calls, calls
placed to a number, the provider's status reports, and handing a live call to a person.

The control plane holds the state and the credentials; the phone gateway (`telephony`) only
moves audio. Every call here gets its conversation record and its LiveKit room as a call from
`POST /conversations` does; the TwiML given to Twilio connects the call to the gateway's
stream with the room's token as a stream parameter, so the gateway joins the room as the phone
participant and the agent is dispatched as for any call. Each request Twilio sends is checked
against its `X-Twilio-Signature` with the auth token of the company the number or the call
belongs to.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telephony import twilio
from telephony.twilio import TwilioClient, TwilioCredentials

from ..jobs.webhooks import enqueue, enqueue_closed
from ..security import ProviderKeyVault
from ..settings import Settings
from ..store.models import Conversation, VoiceAgent, utcnow
from ..store.repositories import (
    ConversationRepository,
    PhoneNumberRepository,
    ProviderKeyRepository,
)
from .agents import find_agent
from .calls import caller_token, check_context, dispatch_for
from .refusal import Refused

logger = logging.getLogger("control_plane.services.phone")

PROVIDER = "twilio"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STATUS_PATH = "/telephony/twilio/status"
AFTER_STREAM_PATH = "/telephony/twilio/after-stream"

UNANSWERED = {
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "call_failed",
    "canceled": "canceled",
}
"""How a call that was never answered ends in its record, by the provider's final status."""


def check_number(value: str, field: str) -> str:
    number = value.strip().replace(" ", "")
    if not E164.match(number):
        raise Refused(400, f"{field}: a phone number in E.164 form, like +15550001111", field=field)
    return number


# --- credentials --------------------------------------------------------------------------------


async def credentials_of(
    session: AsyncSession, vault: ProviderKeyVault, company_id: uuid.UUID
) -> TwilioCredentials | None:
    record = await ProviderKeyRepository(session).get(company_id=company_id, provider=PROVIDER)
    if record is None:
        return None
    try:
        values = json.loads(vault.decrypt(record.ciphertext))
    except ValueError as exc:
        raise Refused(409, f"{exc}; connect the Twilio account again") from None
    return TwilioCredentials(values["account_sid"], values["auth_token"])


async def required_credentials(
    session: AsyncSession, vault: ProviderKeyVault, company_id: uuid.UUID
) -> TwilioCredentials:
    credentials = await credentials_of(session, vault, company_id)
    if credentials is None:
        raise Refused(
            409,
            "no Twilio account is connected: POST /integrations/twilio with account_sid and "
            "auth_token",
            code="telephony_not_connected",
        )
    return credentials


def client(settings: Settings, credentials: TwilioCredentials) -> TwilioClient:
    return TwilioClient(credentials, settings.twilio_base_url, settings.provider_timeout_seconds)


async def check_credentials(settings: Settings, credentials: TwilioCredentials) -> dict[str, Any]:
    """The account, as Twilio describes it; 400 when Twilio refuses the credentials, 502 when
    it cannot be asked."""
    try:
        account = await client(settings, credentials).account()
    except twilio.TwilioRejectedError as exc:
        raise Refused(400, f"invalid_credentials: {exc}", code="invalid_credentials") from None
    except twilio.TwilioUnavailableError as exc:
        raise Refused(502, f"could not check the credentials with Twilio: {exc}") from None
    return {"friendly_name": account.get("friendly_name"), "status": account.get("status")}


async def save_credentials(
    session: AsyncSession,
    vault: ProviderKeyVault,
    company_id: uuid.UUID,
    credentials: TwilioCredentials,
) -> None:
    secret = json.dumps(
        {"account_sid": credentials.account_sid, "auth_token": credentials.auth_token}
    )
    await ProviderKeyRepository(session).save(
        company_id=company_id,
        provider=PROVIDER,
        ciphertext=vault.encrypt(secret),
        masked="***" + credentials.auth_token[-4:],
    )


# --- one phone call -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """A request Twilio sent: the URL it was sent to (as Twilio saw it), its form, its
    signature."""

    url: str
    params: list[tuple[str, str]]
    signature: str | None

    def get(self, name: str) -> str:
        return next((v for k, v in self.params if k == name), "")

    def verify(self, credentials: TwilioCredentials | None) -> None:
        """403 unless the company's auth token signed it, for the company's account."""
        if credentials is None or not twilio.signature_is_valid(
            credentials.auth_token, self.url, self.params, self.signature
        ):
            raise Refused(403, "the request's X-Twilio-Signature is not valid")
        account = self.get("AccountSid")
        if account and account != credentials.account_sid:
            raise Refused(403, "the request comes from another Twilio account")


def _base(settings: Settings, webhook_url: str) -> str:
    """Where Twilio reaches this control plane: `PUBLIC_URL`, else the address the webhook
    came to."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme, _, rest = webhook_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _stream_twiml(
    settings: Settings, base: str, agent: VoiceAgent, row: Conversation, context: dict[str, Any]
) -> str:
    """Connect the call to the gateway, with the token that brings the agent into its room."""
    dispatch = dispatch_for(agent, conversation_id=row.id, user_id=row.user_id, context=context)
    token = caller_token(
        settings,
        room_name=row.room_name,
        identity=row.user_id,
        dispatch=dispatch,
        phone_line={
            "phone.provider": PROVIDER,
            "phone.number": row.phone_number or "",
            "phone.direction": row.direction or "",
            "sip.phoneNumber": row.phone_number or "",
        },
    )
    return twilio.connect_stream(
        settings.telephony_gateway_url,
        {"token": token, "conversation_id": row.id},
        action=f"{base}{AFTER_STREAM_PATH}?conversation_id={row.id}",
    )


def _new_call(
    company_id: uuid.UUID, agent: VoiceAgent, *, number: str, direction: str, call_sid: str | None
) -> dict[str, Any]:
    conversation_id = f"conv_{uuid.uuid4().hex}"
    return {
        "id": conversation_id,
        "company_id": company_id,
        "agent_id": agent.id,
        "user_id": f"phone:{number}",
        "room_name": conversation_id,
        "status": "ongoing",
        "phone_number": number,
        "direction": direction,
        "provider_call_id": call_sid,
        "telephony_status": "ringing" if direction == "inbound" else "queued",
    }


async def answer_incoming(
    session: AsyncSession, settings: Settings, vault: ProviderKeyVault, hook: Webhook
) -> str:
    """TwiML for a call to one of the companies' numbers: its agent answers through the
    gateway; a number without an active agent is rejected."""
    called = hook.get("To") or hook.get("Called")
    number = await PhoneNumberRepository(session).by_number(called)
    if number is None:
        raise Refused(404, f"To: {called or 'no number'} is not a number of this service")
    hook.verify(await credentials_of(session, vault, number.company_id))
    agent = None
    if number.agent_id is not None:
        agent = await session.get(VoiceAgent, number.agent_id)
    if agent is None or not agent.active:
        logger.info("rejected a call to %s: no active agent answers it", called)
        return twilio.reject()
    call_sid = hook.get("CallSid")
    conversations = ConversationRepository(session)
    row = await conversations.phone_call_by_sid(call_sid) if call_sid else None
    if row is None:  # Twilio asks again for the same call when an answer was lost
        caller = hook.get("From") or hook.get("Caller") or "anonymous"
        row = await conversations.create(
            **_new_call(
                number.company_id, agent, number=caller, direction="inbound", call_sid=call_sid
            )
        )
    await session.commit()
    return _stream_twiml(settings, _base(settings, hook.url), agent, row, {})


async def place_call(
    session: AsyncSession,
    settings: Settings,
    vault: ProviderKeyVault,
    company_id: uuid.UUID,
    *,
    agent_id: str,
    to: str,
    from_: str | None,
    context: dict[str, Any],
    base_url: str,
) -> Conversation:
    """Call `to` with the agent: the record first, then Twilio's call; when Twilio refuses
    or cannot be reached, the record is removed again (nothing is kept of a call that never
    was) and the error says why."""
    agent = await find_agent(session, company_id, agent_id, field="agent_id")
    if not agent.active:
        raise Refused(409, "Voice agent is not active: set active to true to take calls")
    to = check_number(to, "to")
    check_context(context)
    if from_ is None:
        own = await PhoneNumberRepository(session).for_agent(
            company_id=company_id, agent_id=agent.id
        )
        if own is None:
            raise Refused(
                409,
                "no phone number to call from: add one with POST /phone-numbers",
                code="no_phone_number",
            )
        from_ = own.number
    else:
        from_ = check_number(from_, "from")
    credentials = await required_credentials(session, vault, company_id)
    row = await ConversationRepository(session).create(
        **_new_call(company_id, agent, number=to, direction="outbound", call_sid=None),
        context=context or None,
    )
    await session.commit()
    base = _base(settings, base_url)
    try:
        call = await client(settings, credentials).create_call(
            to=to,
            from_=from_,
            twiml=_stream_twiml(settings, base, agent, row, context),
            status_callback=f"{base}{STATUS_PATH}?conversation_id={row.id}",
            ring_seconds=settings.phone_ring_seconds,
        )
    except (twilio.TwilioRejectedError, twilio.TwilioUnavailableError) as exc:
        await ConversationRepository(session).delete(conversation=row)
        await session.commit()
        if isinstance(exc, twilio.TwilioRejectedError) and exc.status in (401, 403):
            raise Refused(
                409, f"Twilio refused the account's credentials: {exc}", code="invalid_credentials"
            ) from None
        if isinstance(exc, twilio.TwilioRejectedError):
            raise Refused(400, f"to: {exc}", field="to") from None
        raise Refused(502, f"the call could not be placed: {exc}") from None
    row.provider_call_id = row.provider_call_id or str(call.get("sid") or "")
    await session.commit()
    return row


async def call_status(
    session: AsyncSession, vault: ProviderKeyVault, conversation_id: str, hook: Webhook
) -> None:
    """Twilio's report on a call's progress: its status on the record; a call that ended
    unanswered (busy, no-answer, failed, canceled) closed with that reason."""
    row = await ConversationRepository(session).phone_call(conversation_id)
    if row is None:
        raise Refused(404, "no such phone call")
    hook.verify(await credentials_of(session, vault, row.company_id))
    status = hook.get("CallStatus")
    row.telephony_status = status[:16] or row.telephony_status
    row.provider_call_id = row.provider_call_id or hook.get("CallSid") or None
    if status in UNANSWERED and row.status == "ongoing" and row.started_at is None:
        row.status, row.end_reason, row.ended_at = "failed", UNANSWERED[status], utcnow()
        await enqueue_closed(session, row)
    await session.commit()


async def after_stream(
    session: AsyncSession, vault: ProviderKeyVault, conversation_id: str, hook: Webhook
) -> str:
    """What the call does once its stream ended: dial the person it is handed to, else hang
    up."""
    row = await ConversationRepository(session).phone_call(conversation_id)
    if row is None:
        raise Refused(404, "no such phone call")
    hook.verify(await credentials_of(session, vault, row.company_id))
    if row.transfer_to and E164.match(row.transfer_to):
        return twilio.dial(row.transfer_to)
    return twilio.hang_up()


async def transfer(
    session: AsyncSession,
    settings: Settings,
    vault: ProviderKeyVault,
    row: Conversation,
    *,
    to: str,
    reason: str | None,
) -> None:
    """Hand a live phone call to `to`: Twilio dials it in place of the agent's stream, the
    agent's session ends (the record closes `transferred`), `agent.handoff` fires."""
    to = check_number(to, "to")
    if row.direction is None:
        raise Refused(409, "only a phone call can be transferred", code="not_a_phone_call")
    if row.status != "ongoing" or not row.provider_call_id:
        raise Refused(409, "the call is not going on", code="conversation_ended")
    credentials = await required_credentials(session, vault, row.company_id)
    # Written first: the agent's session ends as soon as Twilio takes the call away, and its
    # record must then read `transferred`.
    row.transfer_to = to
    await session.commit()
    try:
        await client(settings, credentials).redirect_call(row.provider_call_id, twilio.dial(to))
    except (twilio.TwilioRejectedError, twilio.TwilioUnavailableError) as exc:
        row.transfer_to = None
        await session.commit()
        if isinstance(exc, twilio.TwilioRejectedError):
            raise Refused(409, f"Twilio could not transfer the call: {exc}") from None
        raise Refused(502, f"the call could not be transferred: {exc}") from None
    data = {
        "conversation_id": row.id,
        "agent_id": str(row.agent_id) if row.agent_id else None,
        "user_id": row.user_id,
        "to": to,
        "reason": reason or "transferred through the API",
    }
    await enqueue(session, row.company_id, "agent.handoff", data)
    await session.commit()
