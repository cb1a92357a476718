"""Simulated callers: real LiveKit participants that speak, listen and measure."""
