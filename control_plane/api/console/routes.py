"""The console's pages: sign in and out, the company's agents (list, create, edit every field
of the agent contract, a voice sample), and the errors a page can meet.

Pages are rendered on the server (Jinja2) and change things by form posts, each checked
against its session's CSRF token; the few scripts only add to a page that works without them.
Every query is scoped to the signed-in user's company, through the same services as the API.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...jobs.webhooks import EVENTS
from ...providers import PROVIDER_TITLES
from ...schemas.chat import AgentChat
from ...schemas.conversations import ConversationStart
from ...schemas.integrations import ProviderKeyIn
from ...schemas.speech import TTSRequest
from ...schemas.voice_agents import VoiceAgentCreate, VoiceAgentPublic, VoiceAgentUpdate
from ...schemas.webhooks import WebhookCreate, WebhookPublic
from ...security import PERMISSIONS
from ...services.agents import create_agent, find_agent, update_agent
from ...services.refusal import Refused
from ...services.users import MAX_KEY_DAYS, WRONG_CREDENTIALS, check_credentials, issue_user_key
from ...services.webhooks import subscribe
from ...store.models import utcnow
from ...store.repositories import (
    ApiKeyRepository,
    ProviderKeyRepository,
    VoiceAgentRepository,
    WebhookDeliveryRepository,
    WebhookRepository,
)
from ...voices.catalog import curated_elevenlabs_voices, installed_local_voices
from ..compat import chat as compat_chat
from ..deps import get_vault
from ..guard import RequestGuard
from ..routes import conversations, integrations, speech, webhooks
from ..routes.analytics import agent_analytics
from . import forms
from .session import (
    PATH,
    SIGN_IN_CSRF_COOKIE,
    CsrfRefused,
    SignInNeeded,
    Visitor,
    check_csrf,
    close_session,
    keep_sign_in_csrf,
    open_session,
    sign_in_csrf,
    visitor,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["static"] = lambda name: f"{PATH}/static/{name}"
router = APIRouter(prefix=PATH, include_in_schema=False)
SAMPLE_TEXT = "Hello! Thanks for calling. How can I help you today?"
SAMPLE_TEXTS = {
    "en": SAMPLE_TEXT,
    "fr": "Bonjour ! Merci de votre appel. Comment puis-je vous aider ?",
    "de": "Hallo! Danke für Ihren Anruf. Wie kann ich Ihnen helfen?",
    "es": "¡Hola! Gracias por llamar. ¿En qué puedo ayudarle?",
    "ar": "مرحبا! شكرا لاتصالك. كيف يمكنني مساعدتك اليوم؟",
}


class _Db:
    """A store session for one page."""

    def __init__(self, request: Request) -> None:
        self._factory = request.app.state.sessions
        self.session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        self.session = self._factory()
        return await self.session.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.__aexit__(*exc)


def page(
    request: Request,
    template: str,
    *,
    title: str,
    who: Visitor | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"title": title, "visitor": who, "notice": request.query_params.get("notice"), **context},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this site only (never another site)."""
    if not target:
        return f"{PATH}/agents"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PATH) or "\\" in target:
        return f"{PATH}/agents"
    return target


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@asynccontextmanager
async def seen(
    request: Request, *, admin: bool = False
) -> AsyncIterator[tuple[AsyncSession, Visitor]]:
    """A page's store session and signed-in user (`SignInNeeded` without one; 403 for a
    page of admins to anyone else)."""
    async with _Db(request) as db:
        who = await visitor(db, request)
        if admin and not who.may("admin"):
            raise HTTPException(403, "Only an admin of your company manages keys and webhooks")
        yield db, who


@asynccontextmanager
async def posted(
    request: Request, *, admin: bool = False
) -> AsyncIterator[tuple[AsyncSession, Visitor, dict[str, str]]]:
    """A form post's store session, signed-in user and fields, once its CSRF token is the
    session's (`CsrfRefused` otherwise: nothing is changed)."""
    form = await _form(request)
    async with seen(request, admin=admin) as (db, who):
        check_csrf(who.csrf_token, form.get("csrf_token"))
        yield db, who, form


def _may_change(who: Visitor) -> None:
    if not who.may("write"):
        raise HTTPException(403, "Your role may look but not change anything here")


# --- sign in ----------------------------------------------------------------------------------


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PATH}/agents", status_code=303)


SIGN_IN_REASONS = {"expired": "Your session has expired: sign in again."}


@router.get("/sign-in")
async def sign_in_page(request: Request) -> HTMLResponse:
    token = sign_in_csrf(request)
    reason = SIGN_IN_REASONS.get(request.query_params.get("reason", ""), "")
    response = page(
        request,
        "sign_in.html",
        title="Sign in",
        csrf_token=token,
        next=_safe_next(request.query_params.get("next")),
        email="",
        error=reason,
    )
    keep_sign_in_csrf(request, response, token)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    check_csrf(request.cookies.get(SIGN_IN_CSRF_COOKIE), form.get("csrf_token"))
    email = form.get("email", "").strip()[:320]
    target = _safe_next(form.get("next"))
    guard: RequestGuard = request.app.state.guard

    def refused(message: str, status: int) -> HTMLResponse:
        token = sign_in_csrf(request)
        response = page(
            request,
            "sign_in.html",
            title="Sign in",
            status=status,
            csrf_token=token,
            next=target,
            email=email,
            error=message,
        )
        keep_sign_in_csrf(request, response, token)
        return response

    wait = await guard.may_try_password(request, email)
    if wait is not None:
        return refused(f"Too many failed sign-ins: try again in {int(wait)} s.", 429)
    async with _Db(request) as db:
        user = await check_credentials(db, email, form.get("password", ""))
        if user is None:
            await guard.wrong_password(request, email)
            return refused(WRONG_CREDENTIALS + ".", 401)
        response = RedirectResponse(target, status_code=303)
        await open_session(
            db, request, response, user, request.app.state.settings.console_session_hours
        )
        await db.commit()
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    async with posted(request) as (db, who, form):
        response = RedirectResponse(f"{PATH}/sign-in", status_code=303)
        await close_session(db, request, response)
        await db.commit()
    return response


# --- agents -----------------------------------------------------------------------------------


@router.get("/agents")
async def agents_page(request: Request) -> HTMLResponse:
    async with seen(request) as (db, who):
        agents = await VoiceAgentRepository(db).list(company_id=who.company_id)
    return page(request, "agents.html", title="Agents", who=who, section="agents", agents=agents)


def _voices() -> list[dict[str, str]]:
    voices = [*installed_local_voices(), *curated_elevenlabs_voices()]
    return [
        {"voice_id": v.voice_id, "name": v.name, "language": ", ".join(v.languages)} for v in voices
    ]


def _agent_page(
    request: Request,
    who: Visitor,
    *,
    title: str,
    action: str,
    sections: list[forms.Section],
    errors: dict[str, str] | None = None,
    agent_id: uuid.UUID | None = None,
    status: int = 200,
) -> HTMLResponse:
    controls = forms.controls_of(sections)
    for name, message in (errors or {}).items():
        if name in controls:
            controls[name].error = message
    return page(
        request,
        "agent_form.html",
        title=title,
        who=who,
        section="agents",
        status=status,
        action=action,
        sections=sections,
        controls=controls,
        errors=errors or {},
        agent_id=agent_id,
        voices=_voices(),
        readonly=not who.may("write"),
    )


@router.get("/agents/new")
async def new_agent_page(request: Request) -> HTMLResponse:
    async with seen(request) as (_db, who):
        _may_change(who)
    return _agent_page(
        request, who, title="New agent", action=f"{PATH}/agents/new", sections=forms.agent_form()
    )


@router.post("/agents/new")
async def create_agent_page(request: Request) -> Response:
    async with posted(request) as (db, who, form):
        _may_change(who)
        values, errors, sections = forms.read_form(form)
        errors = {**forms.check(values), **errors}
        if not errors:
            try:
                body = VoiceAgentCreate.model_validate(values)
                agent = await create_agent(
                    db, request.app.state.settings, get_vault(request), who.company_id,
                    body.values(),
                )  # fmt: skip
            except Refused as exc:
                errors = {exc.field or "": exc.message}
        if errors:
            return _agent_page(
                request, who, title="New agent", action=f"{PATH}/agents/new",
                sections=sections, errors=errors, status=400,
            )  # fmt: skip
    return RedirectResponse(f"{PATH}/agents/{agent.id}?notice=Agent+created", status_code=303)


@router.get("/agents/{agent_id}")
async def agent_page(request: Request, agent_id: str) -> HTMLResponse:
    async with seen(request) as (db, who):
        agent = await _agent(db, who, agent_id)
        values = VoiceAgentPublic.model_validate(agent).model_dump(mode="json")
    return _agent_page(
        request,
        who,
        title=agent.name,
        action=f"{PATH}/agents/{agent.id}",
        sections=forms.agent_form(values),
        agent_id=agent.id,
    )


@router.post("/agents/{agent_id}")
async def save_agent_page(request: Request, agent_id: str) -> Response:
    async with posted(request) as (db, who, form):
        _may_change(who)
        agent = await _agent(db, who, agent_id)
        values, errors, sections = forms.read_form(form)
        errors = {**forms.check(values), **errors}
        if not errors:
            try:
                body = VoiceAgentUpdate.model_validate(values)
                agent = await update_agent(
                    db, request.app.state.settings, get_vault(request), agent, body
                )
            except Refused as exc:
                errors = {exc.field or "": exc.message}
        if errors:
            return _agent_page(
                request, who, title=agent.name, action=f"{PATH}/agents/{agent.id}",
                sections=sections, errors=errors, agent_id=agent.id, status=400,
            )  # fmt: skip
    return RedirectResponse(f"{PATH}/agents/{agent.id}?notice=Saved", status_code=303)


@router.get("/agents/{agent_id}/talk")
async def talk_page(request: Request, agent_id: str) -> HTMLResponse:
    async with seen(request) as (db, who):
        agent = await _agent(db, who, agent_id)
    return page(
        request, "talk.html", title=f"Talk to {agent.name}", who=who, section="agents",
        agent=agent,
    )  # fmt: skip


@router.post("/agents/{agent_id}/call")
async def start_call(request: Request, agent_id: str) -> JSONResponse:
    """A call of the signed-in user to the agent (the API's `POST /conversations`): the
    browser joins its room with the token."""
    async with posted(request) as (db, who, form):
        agent = await _agent(db, who, agent_id)
        try:
            started = await conversations.start_conversation(
                ConversationStart(agent_id=str(agent.id), user_id=who.user.email),
                db,
                request.app.state.settings,
                who.company_id,
            )
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, exc.status_code)
    details = started.connection_details
    return JSONResponse(
        {
            "conversation_id": started.conversation_id,
            "url": details.websocket_url,
            "token": details.token,
        }
    )


@router.post("/agents/{agent_id}/chat")
async def chat(request: Request, agent_id: str) -> JSONResponse:
    """One message of the text chat (seed 001's agent chat: the answer the agent would give on
    a call)."""
    async with posted(request) as (db, who, form):
        agent = await _agent(db, who, agent_id)
        try:
            body = AgentChat(
                message=form.get("message", ""), session_id=form.get("session_id") or None
            )
            answer = await compat_chat.agent_chat(
                str(agent.id), body, request, db, request.app.state.settings,
                get_vault(request), who.company_id,
            )  # fmt: skip
        except ValidationError as exc:
            return JSONResponse({"detail": forms.first_message(exc)}, 400)
        except HTTPException as exc:
            detail = exc.detail
            if isinstance(detail, dict):  # the seed's {"code", "message", "field"}
                detail = detail.get("message") or str(detail)
            return JSONResponse({"detail": detail}, exc.status_code)
    return JSONResponse(answer["data"])


# --- conversations and analytics -------------------------------------------------------------

PAGE_SIZE = 25


@router.get("/conversations")
async def conversations_page(request: Request) -> HTMLResponse:
    q = request.query_params
    filters = {k: q.get(k, "") for k in ("agent_id", "status", "date_from", "date_to")}
    try:
        page_no = max(1, int(q.get("page") or 1))
    except ValueError:
        page_no = 1
    error = ""
    async with seen(request) as (db, who):
        agents = await VoiceAgentRepository(db).list(company_id=who.company_id)
        try:
            agent_id = uuid.UUID(filters["agent_id"]) if filters["agent_id"] else None
            status = filters["status"] if filters["status"] in STATUSES else None
            rows, total, _ = await conversations.conversation_page(
                db, who.company_id, agent_id, status, filters["date_from"] or None,
                filters["date_to"] or None, page_no, PAGE_SIZE,
            )  # fmt: skip
        except (ValueError, HTTPException) as exc:
            error = f"Filters not understood: {getattr(exc, 'detail', exc)}"
            rows, total = [], 0

    def query(**change: object) -> str:
        return urlencode({**{k: v for k, v in filters.items() if v}, **change})

    return page(
        request, "conversations.html", title="Conversations", who=who,
        section="conversations", rows=rows, total=total, page=page_no,
        pages=max(1, -(-total // PAGE_SIZE)), agents=agents, filters=filters, error=error,
        agent_names={str(a.id): a.name for a in agents}, query=query,
    )  # fmt: skip


STATUSES = ("ongoing", "success", "failed")


@router.get("/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: str) -> HTMLResponse:
    async with seen(request) as (db, who):
        details = await conversations.get_conversation(conversation_id, db, who.company_id)
        agent = (
            await VoiceAgentRepository(db).get(company_id=who.company_id, agent_id=details.agent_id)
            if details.agent_id
            else None
        )
    stages = {k: v for k, v in details.metrics.items() if isinstance(v, dict) and "p50" in v}
    return page(
        request, "conversation.html", title="Conversation", who=who, section="conversations",
        c=details, agent_name=agent.name if agent else None, stages=stages,
    )  # fmt: skip


@router.get("/conversations/{conversation_id}/audio")
async def conversation_audio(request: Request, conversation_id: str) -> Response:
    async with seen(request) as (db, who):
        return await conversations.get_conversation_audio(
            conversation_id, db, request.app.state.settings, who.company_id
        )


@router.get("/agents/{agent_id}/analytics")
async def analytics_page(request: Request, agent_id: str) -> HTMLResponse:
    async with seen(request) as (db, who):
        agent = await _agent(db, who, agent_id)
        figures = await agent_analytics(str(agent.id), db, who.company_id)
    return page(
        request, "analytics.html", title=f"{agent.name}: analytics", who=who, section="agents",
        agent=agent, a=figures,
    )  # fmt: skip


# --- settings: API keys, provider integrations, webhooks ---------------------------------------


async def _settings_page(
    request: Request,
    db: AsyncSession,
    who: Visitor,
    *,
    error: str = "",
    shown_once: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    keys = await ApiKeyRepository(db).list(company_id=who.company_id)
    hooks = await WebhookRepository(db).list(company_id=who.company_id)
    deliveries = {
        str(h.id): await WebhookDeliveryRepository(db).latest(
            company_id=who.company_id, webhook_id=h.id, limit=10
        )
        for h in hooks
    }
    integrations = []
    for name, title in PROVIDER_TITLES.items():
        record = await ProviderKeyRepository(db).get(company_id=who.company_id, provider=name)
        integrations.append({"name": name, "title": title, "masked": record and record.masked})
    return page(
        request, "settings.html", title="Settings", who=who, section="settings", status=status,
        keys=keys, webhooks=[WebhookPublic.of(h) for h in hooks], deliveries=deliveries,
        integrations=integrations, events=EVENTS, all_permissions=PERMISSIONS, now=utcnow(),
        error=error, shown_once=shown_once,
    )  # fmt: skip


@router.get("/settings")
async def settings_page(request: Request) -> HTMLResponse:
    async with seen(request, admin=True) as (db, who):
        return await _settings_page(request, db, who)


async def _many(request: Request, name: str) -> list[str]:
    """Every value of a form field given several times (ticked boxes of one name)."""
    return [v for v in (await request.form()).getlist(name) if isinstance(v, str)]


@router.post("/keys")
async def create_key(request: Request) -> HTMLResponse:
    async with posted(request, admin=True) as (db, who, form):
        permissions = await _many(request, "permissions")
        wanted = [p for p in PERMISSIONS if p in permissions]
        try:
            days = int(form.get("days") or 90)
        except ValueError:
            days = 0
        if not wanted or not 1 <= days <= MAX_KEY_DAYS:
            error = (
                "Give the key at least one permission"
                if not wanted
                else f"Expires after: from 1 to {MAX_KEY_DAYS} days"
            )
            return await _settings_page(request, db, who, error=error, status=400)
        issued = await issue_user_key(
            db, who.user, permissions=wanted, days=days, name=form.get("name", "")[:200]
        )
        await db.commit()
        shown = {"what": "The new API key", "value": issued.issued.key}
        return await _settings_page(request, db, who, shown_once=shown, status=201)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    async with posted(request, admin=True) as (db, who, form):
        keys = ApiKeyRepository(db)
        try:
            record = await keys.by_id(key_id=uuid.UUID(key_id))
        except ValueError:
            record = None
        if record is None or record.company_id != who.company_id:
            raise HTTPException(404, "No such API key in your company")
        await keys.revoke(key_id=record.id)
        await db.commit()
    return RedirectResponse(f"{PATH}/settings?notice=Key+revoked", status_code=303)


@router.post("/integrations/{provider}")
async def connect_integration(request: Request, provider: str) -> Response:
    async with posted(request, admin=True) as (db, who, form):
        if provider not in PROVIDER_TITLES:
            raise HTTPException(404, "No such provider")
        try:
            body = ProviderKeyIn(api_key=form.get("api_key", "").strip())
            await integrations.connect_company_integration(
                provider,  # type: ignore[arg-type]
                body, db, request.app.state.settings, get_vault(request), who.company_id,
            )  # fmt: skip
        except ValidationError:
            error = "The key: printable characters without spaces, 500 at most"
            return await _settings_page(request, db, who, error=error, status=400)
        except HTTPException as exc:
            return await _settings_page(request, db, who, error=str(exc.detail), status=400)
    title = PROVIDER_TITLES[provider]
    return RedirectResponse(f"{PATH}/settings?notice={title}+connected", status_code=303)


@router.post("/integrations/{provider}/remove")
async def disconnect_integration(request: Request, provider: str) -> Response:
    async with posted(request, admin=True) as (db, who, form):
        if provider not in PROVIDER_TITLES:
            raise HTTPException(404, "No such provider")
        await integrations.disconnect_company_integration(
            provider,  # type: ignore[arg-type]
            db,
            who.company_id,
        )
    return RedirectResponse(f"{PATH}/settings?notice=Disconnected", status_code=303)


@router.post("/webhooks")
async def add_webhook(request: Request) -> HTMLResponse:
    async with posted(request, admin=True) as (db, who, form):
        events = await _many(request, "events")
        try:
            body = WebhookCreate(url=form.get("url", "").strip(), events=events)
            hook, secret = await subscribe(
                db, request.app.state.settings, get_vault(request), who.company_id, body
            )
        except ValidationError as exc:
            return await _settings_page(
                request, db, who, error=forms.first_message(exc), status=400
            )
        except (Refused, HTTPException) as exc:
            message = exc.message if isinstance(exc, Refused) else str(exc.detail)
            return await _settings_page(request, db, who, error=message, status=400)
        shown = {"what": f"The signing secret of {hook.url}", "value": secret or ""}
        return await _settings_page(request, db, who, shown_once=shown, status=201)


@router.post("/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, webhook_id: str) -> Response:
    async with posted(request, admin=True) as (db, who, form):
        await webhooks.delete_webhook(webhook_id, db, who.company_id)
    return RedirectResponse(f"{PATH}/settings?notice=Webhook+deleted", status_code=303)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


templates.env.globals["ms"] = _ms


async def _agent(db: AsyncSession, who: Visitor, agent_id: str) -> Any:
    try:
        return await find_agent(db, who.company_id, agent_id)
    except Refused:
        raise HTTPException(404, "No such agent in your company") from None


@router.post("/voices/sample")
async def voice_sample(request: Request) -> Response:
    """A line in a voice, for the form's "Play a sample" (the API's speech route's code)."""
    async with posted(request) as (db, who, form):
        language = (form.get("language") or "en").split("-")[0]
        try:
            speed = float(form.get("voice_speed") or 100)
            body = TTSRequest(
                text=SAMPLE_TEXTS.get(language, SAMPLE_TEXT),
                voice_speed=min(max(speed, 50.0), 200.0),
                output_format="mp3_44100_128",
            )
            return await speech.text_to_speech(
                voiceId=form.get("voice_id", ""),
                body=body,
                request=request,
                settings=request.app.state.settings,
                session=db,
                vault=get_vault(request),
                company_id=who.company_id,
            )
        except (ValueError, ValidationError):
            return JSONResponse({"detail": "voice speed: a number from 50 to 200"}, 400)
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, exc.status_code)


# --- errors -----------------------------------------------------------------------------------


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return RedirectResponse(exc.location(), status_code=303)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return page(
        request,
        "message.html",
        title="This form has expired",
        status=403,
        message=(
            "The form was not sent from a current page of this console (it may be from an "
            "older session). Nothing was changed: go back, reload the page and try again."
        ),
        back=request.headers.get("referer") if _same_site(request) else None,
    )


def _same_site(request: Request) -> bool:
    referer = request.headers.get("referer", "")
    return urlsplit(referer).netloc == request.url.netloc


ERROR_TITLES = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}


def install_console(app: FastAPI) -> None:
    """The console's pages at `/console`, its static files, and its error pages (the API's
    errors stay JSON)."""
    app.include_router(router)
    app.mount(f"{PATH}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    api_errors = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(PATH + "/") or request.url.path.startswith(
            f"{PATH}/voices/"
        ):
            answer = api_errors(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        return page(
            request,
            "message.html",
            title=ERROR_TITLES.get(exc.status_code, "Something went wrong"),
            status=exc.status_code,
            message=str(exc.detail),
            back=f"{PATH}/agents",
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
