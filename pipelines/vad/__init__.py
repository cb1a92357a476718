"""Voice activity detection providers."""

from .webrtc import WebRTCVAD, WebRTCVADOptions

__all__ = ["WebRTCVAD", "WebRTCVADOptions"]
