"""The names `pipelines` exports to the tools are all listed and all resolve."""

from __future__ import annotations

import pipelines


def test_every_exported_name_is_listed_and_resolves() -> None:
    assert sorted(pipelines.__all__) == sorted(pipelines._PUBLIC)
    for name in pipelines.__all__:
        assert getattr(pipelines, name) is not None, name
