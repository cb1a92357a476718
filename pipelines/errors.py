"""Errors raised while assembling pipelines, each naming its cause and its fix."""


class PipelineSetupError(RuntimeError):
    """A pipeline part cannot be built; the message says why and how to fix it."""


class ModelNotFoundError(PipelineSetupError):
    """A model file or directory is missing."""

    def __init__(self, what: str, path: str, fix: str) -> None:
        super().__init__(f"{what} not found at {path}: {fix}")
        self.what = what
        self.path = path
