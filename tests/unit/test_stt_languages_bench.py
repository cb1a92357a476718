"""How the per-language recognition benchmark scores transcripts and picks its clips."""

from __future__ import annotations

from benchmarks.stt_languages import (
    QUICK_CLIPS,
    SETS,
    error_rates,
    normalize_words,
    pairs,
    per_clip_ratio,
    score,
    strip_vowel_marks,
)


def test_arabic_is_compared_without_vowel_marks_or_spelling_variants():
    vowelled = "أُرِيدُ غُرْفَةً لِشَخْصَيْنِ لِمُدَّةِ ثَلَاثِ لَيَال"
    assert strip_vowel_marks(vowelled) == "أريد غرفة لشخصين لمدة ثلاث ليال"
    # hamza on the alef, ta marbuta, a number in words or in Arabic-Indic digits, punctuation
    assert normalize_words(vowelled, "ar") == normalize_words("اريد غرفه لشخصين لمدة ٣ ليال؟", "ar")
    assert normalize_words("إلى القاهرة؟", "ar") == ["الي", "القاهره"]


def test_french_numbers_apostrophes_and_hyphens():
    assert normalize_words("Le quatre sept deux neuf.", "fr") == ["le", "4729"]
    assert normalize_words("le 4729", "fr") == ["le", "4729"]
    assert normalize_words("Est-ce l'heure ?", "fr") == ["est", "ce", "l", "heure"]
    assert normalize_words("À Paris", "fr") == ["à", "paris"]


def test_english_uses_the_phone_benchmarks_normalisation():
    assert normalize_words("I need a table for 6.", "en") == normalize_words(
        "i need a table for six", "en"
    )


def test_scores_count_word_and_character_edits():
    s = score("Bonjour, je voudrais une table.", "Bonjour je voudrais une fable", "fr")
    # compared as "bonjour je voudrais 1 table": 27 characters, spaces included
    assert s == {"words": 5, "word_errors": 1, "chars": 27, "char_errors": 1}
    assert score("Oui.", "", "fr")["word_errors"] == 1


def test_error_rates_pool_the_edits_of_every_sentence():
    rows = [
        {"words": 4, "word_errors": 1, "chars": 20, "char_errors": 2, "transcript": "a b c"},
        {"words": 6, "word_errors": 0, "chars": 30, "char_errors": 0, "transcript": "a b c d e f"},
        {"words": 2, "word_errors": 2, "chars": 10, "char_errors": 10, "transcript": " "},
        {"words": 3, "word_errors": 30, "chars": 15, "char_errors": 60, "transcript": "la " * 30},
    ]
    rates = error_rates(rows)
    assert rates["wer"] == 33 / 15
    assert rates["wer_capped"] == 6 / 15, "the looping transcript counts as its 3 words wrong"
    assert rates["cer"] == 72 / 75
    assert rates["sentences_wrong"] == 3 / 4
    assert rates["empty"] == 1 / 4
    assert error_rates([])["wer"] is None


def test_speed_ratio_is_taken_clip_by_clip():
    rows = [
        {"path": "call", "language": "en", "voice": "v", "sentence": 0, "model": "base",
         "decode_seconds": 0.3},
        {"path": "call", "language": "en", "voice": "v", "sentence": 0, "model": "tiny.en",
         "decode_seconds": 0.1},
        {"path": "call", "language": "en", "voice": "v", "sentence": 1, "model": "base",
         "decode_seconds": 0.4},
        {"path": "call", "language": "en", "voice": "v", "sentence": 1, "model": "tiny.en",
         "decode_seconds": 0.2},
        {"path": "file", "language": "en", "voice": "v", "sentence": 0, "model": "base",
         "decode_seconds": 9.0},
    ]  # fmt: skip
    assert per_clip_ratio(rows, "call") == 2.5
    assert per_clip_ratio(rows, "file") is None


def test_quick_mode_reads_each_sentence_once_with_the_voices_in_turn():
    english = SETS["en"]
    quick = pairs(english, quick=True)
    assert len(quick) == QUICK_CLIPS
    assert [i for i, _ in quick] == list(range(QUICK_CLIPS))
    assert {v.name for _, v in quick} == {v.name for v in english.voices}
    assert len(pairs(english, quick=False)) == len(english.sentences) * len(english.voices)


def test_every_arabic_reference_is_its_spoken_text_without_vowel_marks():
    for sentence in SETS["ar"].sentences:
        assert sentence.reference == strip_vowel_marks(sentence.spoken)
        assert sentence.reference != sentence.spoken
