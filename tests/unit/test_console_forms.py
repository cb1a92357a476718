"""The console's agent form is made from the agent contract: every field has a control, and a
form submitted as shown reads back to the same agent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent.contract import AgentConfig
from control_plane.api.console import forms


def _submitted(sections: list[forms.Section]) -> dict[str, str]:
    """What a browser sends for the form as shown (an unticked box is not sent)."""
    return {
        c.name: c.value for s in sections for c in s.controls if c.kind != "checkbox" or c.value
    }


def test_every_field_of_the_contract_has_one_control() -> None:
    expected = set()
    for name, info in AgentConfig.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            expected |= {f"{name}.{sub}" for sub in model.model_fields}
        else:
            expected.add(name)
    names = [c.name for s in forms.agent_form() for c in s.controls]
    assert sorted(names) == sorted(expected)
    assert len(names) == len(set(names))


def test_a_form_sent_as_shown_reads_back_to_the_same_agent() -> None:
    agent: dict[str, Any] = AgentConfig(
        name="Desk",
        description="Answers the phone",
        temperature=0.25,
        tools=[{"type": "end_call"}],
        privacy={"retention_days": 30, "zero_retention": True},
    ).model_dump(mode="json")
    values, errors, _ = forms.read_form(_submitted(forms.agent_form(agent)))
    assert errors == {}
    assert forms.check(values) == {}
    assert AgentConfig.model_validate(values).model_dump(mode="json") == agent


def test_unreadable_and_invalid_fields_are_reported_by_name_and_kept() -> None:
    sent = _submitted(forms.agent_form()) | {
        "temperature": "warm",
        "max_completion_tokens": "2.5",
        "turn_detection.min_silence_duration": "9",
        "language": "English",
        "tools": "[{",
    }
    values, errors, sections = forms.read_form(sent)
    errors = {**forms.check(values), **errors}
    assert set(errors) == {
        "temperature",
        "max_completion_tokens",
        "turn_detection.min_silence_duration",
        "language",
        "tools",
    }
    assert errors["language"] == "a language code, like en or en-US"
    shown = forms.controls_of(sections)
    assert shown["temperature"].value == "warm" and shown["tools"].value == "[{"
