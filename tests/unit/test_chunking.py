import pytest

from pipelines.tts.chunking import SpeechChunker, split_chunks


def pieces(text: str) -> list[str]:
    return [p for p, _, _ in split_chunks(text)]


def test_sentences_and_long_clauses_are_cut():
    text = "The capital of France is Paris, a city famous for fashion. It is lovely!"
    assert pieces(text) == [
        "The capital of France is Paris,",
        "a city famous for fashion.",
        "It is lovely!",
    ]


def test_short_clauses_stay_together_and_decimals_are_not_sentence_ends():
    assert pieces("Sure! Cats, dogs and birds are pets.") == [
        "Sure!",
        "Cats, dogs and birds are pets.",
    ]
    assert pieces("It costs 3.5 dollars") == ["It costs 3.5 dollars"]


def test_arabic_punctuation():
    assert pieces("مرحبا، كيف يمكنني مساعدتك اليوم؟ شكرا.") == [
        "مرحبا، كيف يمكنني مساعدتك اليوم؟",
        "شكرا.",
    ]


def test_offsets_point_into_the_text():
    text = "One two three four, five six. Seven"
    for piece, start, end in split_chunks(text):
        assert text[start:end].strip() == piece


async def test_stream_emits_the_first_clause_before_the_reply_is_complete():
    stream = SpeechChunker().stream()
    for token in ["The capital", " of France", " is Paris,", " a"]:
        stream.push_text(token)
    first = await stream.__anext__()
    assert first.token == "The capital of France is Paris,"
    stream.push_text(" city.")
    stream.end_input()
    rest = [ev.token async for ev in stream]
    assert rest == ["a city."]


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text(text):
    assert pieces(text) == []


def test_abbreviations_and_initials_do_not_end_sentences():
    assert pieces("Dr. Smith will see you at 3 p.m. tomorrow. Bring your card.") == [
        "Dr. Smith will see you at 3 p.m. tomorrow.",
        "Bring your card.",
    ]
    assert pieces("Ask for J. Smith, e.g. at the desk. Thanks!") == [
        "Ask for J. Smith,",
        "e.g. at the desk.",
        "Thanks!",
    ]


def test_arabic_sentences_with_latin_full_stops():
    assert pieces("أهلاً بك. نفتح الساعة السابعة، ونغلق في المساء؛ هل تريد الحجز؟ شكراً!") == [
        "أهلاً بك.",
        "نفتح الساعة السابعة، ونغلق في المساء؛",
        "هل تريد الحجز؟",
        "شكراً!",
    ]


def test_without_a_clause_minimum_only_sentences_end_pieces():
    text = "The capital of France is Paris, a city famous for its food. It is big."
    assert [p for p, _, _ in split_chunks(text, min_clause_words=None)] == [
        "The capital of France is Paris, a city famous for its food.",
        "It is big.",
    ]
