"""What the API does beyond reading and writing rows: calls in LiveKit, analytics. Routes call
these; they know nothing of HTTP."""
