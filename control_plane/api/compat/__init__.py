"""Surfaces of other platforms' APIs (the seeds), answered over the same store and services:
`/v1/api/...` is seed 001's, in its envelope (`schemas.envelope`) and with its Bearer auth."""
