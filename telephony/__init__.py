"""Phone calls through a telephony provider's media-stream websocket.

`twilio` speaks Twilio's REST API, its request signatures and its TwiML; `media` reads and
writes its media-stream messages; `bridge` joins one phone call's stream to the call's LiveKit
room; `gateway` serves the streams (`python -m telephony`). The control plane answers the
provider's webhooks and places calls; the gateway only moves audio, so it needs no store and
scales on its own.
"""
