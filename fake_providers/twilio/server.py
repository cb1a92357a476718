"""`FakeTwilio`: the REST routes and the ``/_fake/twilio/*`` control routes on one server."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fake_providers.twilio.call import FakeCall
from fake_providers.twilio.rest import RestRoutes

_ACCOUNT = "/2010-04-01/Accounts/{account}"
_CALL = _ACCOUNT + "/Calls/{call}.json"


class FakeTwilio(RestRoutes):
    """The fake Twilio server: ``async start()`` / ``stop()``, or ``async with FakeTwilio()``.

    It takes the arguments `TwilioCore` lists (see the package docstring for routes, faults and
    what a test can do with a call).
    """

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(_ACCOUNT + ".json", self._route("account", self._get_account)),
            web.post(_ACCOUNT + "/Calls.json", self._route("create_call", self._create_call)),
            web.get(_ACCOUNT + "/Calls.json", self._route("list_calls", self._list_calls)),
            web.get(_CALL, self._route("fetch_call", self._get_call)),
            web.post(_CALL, self._route("update_call", self._update_call)),
            web.post("/_fake/twilio/calls", self._control_place_call),
            web.get("/_fake/twilio/calls", self._control_list_calls),
            web.post("/_fake/twilio/config", self._control_config),
        ]

    # --- control routes (the command line's way in) -------------------------------------------

    async def _control_place_call(self, request: web.Request) -> web.Response:
        """``POST /_fake/twilio/calls`` ``{"voice_url", "to", "from", "account_sid",
        "status_callback", "method"}``: an inbound call."""
        payload = await request.json()
        if not payload.get("voice_url"):
            return web.json_response({"error": "voice_url is required"}, status=400)
        try:
            call = await self.place_inbound_call(
                payload["voice_url"],
                to=payload.get("to", "+15550001111"),
                from_=payload.get("from", "+15559998888"),
                account_sid=payload.get("account_sid"),
                status_callback=payload.get("status_callback"),
                method=payload.get("method", "POST"),
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(call.resource(), status=201)

    async def _control_list_calls(self, request: web.Request) -> web.Response:
        return web.json_response([call_summary(c) for c in self.calls.values()])

    async def _control_config(self, request: web.Request) -> web.Response:
        """``POST /_fake/twilio/config``: callee behaviours, wrong signatures, ring times."""
        payload = await request.json()
        try:
            for number, behaviour in (payload.get("callee_behaviour") or {}).items():
                self.set_callee(number, behaviour)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if "sign_with_wrong_token" in payload:
            self.sign_with_wrong_token = bool(payload["sign_with_wrong_token"])
        for name in ("ring_seconds", "no_answer_seconds"):
            if name in payload:
                setattr(self, name, float(payload[name]))
        return web.json_response(
            {
                "callee_behaviour": self.callee_behaviour,
                "sign_with_wrong_token": self.sign_with_wrong_token,
                "ring_seconds": self.ring_seconds,
                "no_answer_seconds": self.no_answer_seconds,
            }
        )


def call_summary(call: FakeCall) -> dict[str, Any]:
    """A call's resource with what the fake saw of it, as JSON."""
    return call.resource() | {
        "dialed": call.dialed,
        "end_reason": call.end_reason,
        "http_status": call.http_status,
        "errors": [{"code": e.code, "message": e.message} for e in call.errors],
        "events": [{"kind": e.kind, **e.detail} for e in call.events],
        "requests": [
            {"kind": r.kind, "method": r.method, "url": r.url, "status": r.status}
            for r in call.requests
        ],
        "streams": [
            {
                "stream_sid": p.stream_sid,
                "closed_by": p.closed_by,
                "media_sent": p.media_sent,
                "media_received": p.media_received,
                "marks": p.marks,
                "clears": len(p.clears),
                "digits": p.digits,
                "errors": p.errors,
            }
            for p in call.phones
        ],
    }
