"""Reading the model's answer to the analysis prompt: what is kept and what is left out."""

from __future__ import annotations

import pytest

from agent.contract import AnalysisSettings
from control_plane.analysis.conversation import (
    Analysis,
    Line,
    collected,
    parse_answer,
    prompt,
    read_answer,
)

SETTINGS = AnalysisSettings.model_validate(
    {
        "intents": ["track_order", "refund_request"],
        "data_collection": {
            "order_number": {"type": "integer", "description": "the order's number"},
            "postcode": {"type": "string", "pattern": "^[A-Z0-9 ]{5,8}$"},
            "gift": {"type": "boolean"},
        },
        "success_criteria": [{"id": "order_located", "description": "Was the order found?"}],
    }
)


@pytest.mark.parametrize(
    "answer",
    [
        '{"summary": "x"}',
        'Sure! Here it is:\n```json\n{"summary": "x"}\n```\nAnything else?',
        '{"summary": "x", "nested": {"a": 1}}',
    ],
)
def test_the_object_is_found_in_prose_and_fences(answer):
    assert parse_answer(answer)["summary"] == "x"


@pytest.mark.parametrize("answer", ["", "I cannot help with that.", '{"summary": }', "[1, 2]"])
def test_an_answer_without_an_object_is_refused_with_what_it_was(answer):
    with pytest.raises(ValueError):
        parse_answer(answer)


def test_only_what_the_agent_asked_for_and_what_matches_is_kept():
    into = Analysis()
    read_answer(
        {
            "summary": "  Order 4471 was found and will arrive Friday.  ",
            "intents": ["Track Order", "small talk", "refund_request", "track_order"],
            "resolution": "Resolved",
            "data_collected": {
                "order_number": "4,471",
                "postcode": "not a postcode!",
                "gift": False,
                "colour": "red",
            },
            "criteria": {"order_located": True, "invented": {"result": False}},
        },
        SETTINGS,
        into,
    )
    assert into.summary == "Order 4471 was found and will arrive Friday."
    assert into.intents == ["track_order", "refund_request"]
    assert into.resolution == "resolved"
    assert into.data_collected == {"order_number": 4471, "gift": False}
    assert into.criteria == {"order_located": {"result": True, "evidence": None}}


def test_a_resolution_outside_the_three_is_left_out():
    into = Analysis()
    read_answer({"resolution": "mostly", "intents": "track_order"}, SETTINGS, into)
    assert into.resolution is None and into.intents == ["track_order"]


@pytest.mark.parametrize(
    ("value", "kept"),
    [("12", 12), (12.0, 12), ("12.5", None), ("", None), (None, None), ("twelve", None)],
)
def test_numbers_given_as_digits_are_taken_as_numbers(value, kept):
    found = collected({"n": value}, {"n": {"type": "integer"}})
    assert found == ({} if kept is None else {"n": kept})


def test_the_prompt_names_the_fields_the_criteria_and_the_language():
    text = prompt([Line("agent", "مرحبا"), Line("user", "أين طلبي؟")], SETTINGS, language="ar-SA")
    assert "order_number" in text and "Was the order found?" in text
    assert "in Arabic" in text and '["track_order", "refund_request"]' in text
    assert text.endswith("Agent: مرحبا\nCaller: أين طلبي؟")
