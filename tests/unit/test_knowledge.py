"""The knowledge package: chunking, document formats, the packaged embedder, the index and
its cache, retrieval and the words put before the model."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np
import openai
import pytest

from agent.contract import KnowledgeSettings
from agent.knowledge import Retriever, knowledge_prompt, relevant
from fake_providers.openai import FakeOpenAI
from knowledge.chunking import chunk_text
from knowledge.documents import DocumentError, UnsupportedDocumentError, extract, format_of
from knowledge.embeddings import (
    EmbeddingError,
    LocalEmbedder,
    OpenAIEmbedder,
    _EngineTurns,
    from_bytes,
    normalise,
    to_bytes,
)
from knowledge.index import IndexCache, Passage, PassageRef, VectorIndex, script_of

FAQ = {
    "returns": "You can return any item within 30 days of delivery for a full refund.",
    "hours": "Our shop is open Monday to Friday from 9 am to 6 pm.",
    "shipping": "Shipping is free for every order over 50 euros.",
    "returns-ar": "يمكنك إرجاع أي منتج خلال 30 يومًا من التسليم لاسترداد كامل المبلغ.",
}


# --- chunking -------------------------------------------------------------------------------


def test_short_paragraphs_are_packed_and_long_ones_cut_at_sentences():
    text = "Title\n\nFirst short paragraph.\n\n" + " ".join(
        f"Sentence number {i} says something about the shop." for i in range(30)
    )
    chunks = chunk_text(text, max_chars=200)
    assert chunks[0].startswith("Title\n\nFirst short paragraph.")
    assert all(0 < len(c) <= 200 for c in chunks)
    # Every sentence survives, in order; a cut repeats the sentence before it.
    joined = " ".join(chunks)
    for i in range(30):
        assert f"Sentence number {i} says" in joined
    assert any(chunks[i].split(". ")[-1] in chunks[i + 1] for i in range(1, len(chunks) - 1))


def test_text_without_spaces_or_sentences_is_still_cut():
    chunks = chunk_text("x" * 1200, max_chars=500)
    assert [len(c) for c in chunks] == [500, 500, 200]
    assert chunk_text("   \n\n  ") == []


def test_arabic_sentences_are_cut_at_their_question_marks():
    text = " ".join(["هل يمكنني إرجاع المنتج بعد شهر؟"] * 20)
    chunks = chunk_text(text, max_chars=120)
    assert len(chunks) > 1 and all(len(c) <= 120 for c in chunks)
    assert all(c.endswith("؟") for c in chunks)


# --- documents ------------------------------------------------------------------------------


def test_formats_are_known_by_name_then_by_type():
    assert format_of("Menu.PDF") == "pdf"
    assert format_of("notes", "text/markdown; charset=utf-8") == "markdown"
    assert format_of("page.htm", "application/octet-stream") == "html"
    with pytest.raises(UnsupportedDocumentError, match=r"\.docx"):
        format_of("setup.exe", "application/octet-stream")
    with pytest.raises(UnsupportedDocumentError):
        format_of("archive.zip", "text/plain")  # a name that says otherwise wins


def test_csv_rows_become_sentences_and_text_is_decoded_whatever_its_encoding():
    doc = extract(b"item,price\nespresso,2.50\n,\ntea,\n", "prices.csv")
    assert doc.text == "item: espresso; price: 2.50.\n\nitem: tea."
    latin = extract("Größe: 42 – café".encode("cp1252"), "notes.txt")
    assert "Größe" in latin.text and "café" in latin.text


def test_docx_paragraphs_and_tables_are_read():
    from docx import Document

    document = Document()
    document.add_paragraph("Opening hours")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Saturday"
    table.rows[0].cells[1].text = "10 to 14"
    out = io.BytesIO()
    document.save(out)
    text = extract(out.getvalue(), "hours.docx").text
    assert "Opening hours" in text and "Saturday | 10 to 14" in text


def test_html_keeps_the_main_text_without_scripts_and_menus():
    html = (
        "<html><body><nav><a href='/'>Home</a> <a href='/shop'>Shop</a></nav>"
        "<script>track()</script><article><h1>Returns</h1><p>You can return any item within "
        "30 days of delivery for a full refund, provided it is unused.</p></article>"
        "<footer>Imprint</footer></body></html>"
    )
    text = extract(html.encode(), "returns.html").text
    assert "30 days of delivery" in text
    assert "track()" not in text


def test_damaged_or_empty_documents_are_refused_with_the_reason():
    with pytest.raises(DocumentError, match="PDF"):
        extract(b"%PDF-1.4 not really", "x.pdf")
    with pytest.raises(DocumentError, match="DOCX"):
        extract(b"PK not a zip", "x.docx")
    with pytest.raises(DocumentError, match="no text"):
        extract(b"  \n ", "empty.txt")


# --- embeddings and the index ---------------------------------------------------------------


@pytest.fixture(scope="module")
async def faq_index():
    embedder = LocalEmbedder()
    vectors = await embedder.passages(list(FAQ.values()))
    refs = [PassageRef(f"c{i}", key, key, text) for i, (key, text) in enumerate(FAQ.items())]
    return embedder, VectorIndex(refs, vectors)


async def test_the_packaged_model_finds_the_passage_in_english_and_arabic(faq_index):
    embedder, index = faq_index
    assert index.matrix.shape == (4, 384) and index.matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(index.matrix, axis=1), 1.0, atol=1e-4)
    for question, expected in (
        ("How many days do I have to return an item?", {"returns", "returns-ar"}),
        ("When are you open?", {"hours"}),
        ("How much does shipping cost?", {"shipping"}),
        ("كم يومًا لدي لإرجاع منتج؟", {"returns", "returns-ar"}),
    ):
        best = index.search(await embedder.query(question), top_k=1)
        assert best[0].source in expected, (question, best)


async def test_the_threshold_keeps_unrelated_passages_out(faq_index):
    embedder, index = faq_index
    settings = KnowledgeSettings()
    related = index.search(await embedder.query("Can I return a product?"), 3, settings.min_score)
    assert related and related[0].source in ("returns", "returns-ar")
    unrelated = index.search(
        await embedder.query("Who won the football world cup in 1990?"), 3, settings.min_score
    )
    assert unrelated == []


def test_search_orders_by_score_and_ignores_other_models_vectors():
    matrix = normalise([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]])
    index = VectorIndex([PassageRef(str(i), "i", "s", f"t{i}") for i in range(3)], matrix)
    found = index.search(normalise([1, 0.1, 0])[0], top_k=2)
    assert [p.chunk_id for p in found] == ["0", "1"] and found[0].score > found[1].score
    assert index.search(normalise([1, 0, 0, 0])[0]) == []
    assert VectorIndex([], np.zeros((0, 3), dtype=np.float32)).search(matrix[0]) == []
    assert np.array_equal(from_bytes(to_bytes(matrix[1])), matrix[1])


def test_a_texts_script_is_the_one_most_of_its_letters_are_in():
    assert script_of("Our shop opens at 9 am, Monday to Friday.") == "latin"
    assert script_of("يمكنك إرجاع أي منتج خلال 30 يومًا (30 days)") == "arabic"
    assert script_of("Магазин открыт с 9 утра") == "cyrillic"
    assert script_of("12:30 - 18:00") == "other"


def _bilingual_index() -> VectorIndex:
    """Eight English and eight Arabic passages, each on a topic of its own, whose vectors
    share their language's direction (as a multilingual model's do): dimension 0 English,
    1 Arabic, 2 + n the topic n."""
    rows, refs = [], []
    for n in range(16):
        vector = np.zeros(18, dtype=np.float32)
        vector[0 if n < 8 else 1] = 0.9
        vector[2 + n] = 0.45
        rows.append(vector)
        text = f"English passage on topic {n}" if n < 8 else f"فقرة عربية عن الموضوع {n}"
        refs.append(PassageRef(str(n), "item", f"doc{n}", text))
    return VectorIndex(refs, normalise(rows))


def _question(language: int, topic: int) -> np.ndarray:
    vector = np.zeros(18, dtype=np.float32)
    vector[language] = 0.9
    vector[2 + topic] = 0.45
    return normalise(vector)[0]


def test_in_a_bilingual_index_the_answer_in_the_other_language_ranks_first():
    index = _bilingual_index()
    arabic_question_on_topic_3 = _question(1, 3)  # only English passage 3 answers it
    plain = index.matrix @ arabic_question_on_topic_3
    assert int(np.argmax(plain)) >= 8  # by the plain cosine, any Arabic passage comes first
    found = index.search(arabic_question_on_topic_3, top_k=3, min_score=-1.0, script="arabic")
    assert found[0].chunk_id == "3" and found[0].cross_language
    assert found[0].score == pytest.approx(float(plain[3]), abs=1e-4)  # the plain cosine
    # a question in its passages' language still finds its own topic first
    same = index.search(_question(0, 5), top_k=1, min_score=-1.0, script="latin")
    assert same[0].chunk_id == "5" and not same[0].cross_language
    # with one language, the ranking is the plain cosine's
    rng = np.random.default_rng(5)
    refs = [PassageRef(str(i), "item", "doc", f"passage {i}") for i in range(20)]
    english = VectorIndex(refs, normalise(rng.normal(size=(20, 18))))
    ranked = english.search(normalise(rng.normal(size=18))[0], top_k=20, min_score=-1.0)
    assert len(ranked) == 20
    assert [p.score for p in ranked] == sorted((p.score for p in ranked), reverse=True)


def test_a_passage_in_another_script_passes_a_bar_lowered_by_the_allowance():
    index = _bilingual_index()
    question = _question(1, 3)
    score = float(index.matrix[3] @ question)
    bar = score + 0.02
    assert index.search(question, 1, bar, script="arabic") == []
    kept = index.search(question, 1, bar, script="arabic", cross_language_allowance=0.03)
    assert [p.chunk_id for p in kept] == ["3"]
    settings = KnowledgeSettings(min_score=0.5, score_margin=0.02, cross_language_allowance=0.03)
    passages = [
        Passage("a", "i", "s", "t", 0.80, cross_language=True),  # stands at 0.83
        Passage("b", "i", "s", "t", 0.82),
        Passage("c", "i", "s", "t", 0.80),
    ]
    assert relevant(passages, settings) == [True, True, False]


SHOP_EN = [
    "Returns: you can return any item within 30 days of delivery for a full refund.",
    "Opening hours: our shop is open Monday to Friday from 9 am to 6 pm.",
    "Delivery: shipping is free for every order over 50 euros.",
    "Guarantee: every sofa and bed comes with a two-year guarantee.",
    "Payment: we accept Visa, Mastercard and bank transfers.",
    "Gift cards are sold in the shop and online, from 10 to 500 euros.",
    "The shop is at 12 Harbour Street, next to the central station.",
    "Customer service answers the phone from 8 am to 8 pm.",
]
CLINIC_AR = [
    "يمكن حجز المواعيد عبر الهاتف أو من خلال تطبيق العيادة.",
    "ساعات العمل من التاسعة صباحاً حتى العاشرة مساءً من السبت إلى الخميس.",
    "يرجى الحضور قبل موعدك بخمس عشرة دقيقة لإكمال التسجيل.",
    "لإلغاء الموعد يجب إبلاغنا قبل أربع وعشرين ساعة على الأقل.",
    "نقبل التأمين الطبي من بوبا والتعاونية وميدغلف.",
    "الكشف الأول مع الأشعة بمئتي ريال.",
    "لدينا طبيبة متخصصة في علاج أسنان الأطفال.",
    "يتوفر موقف سيارات مجاني أمام العيادة.",
]


async def test_a_question_in_arabic_finds_the_english_answer_in_a_bilingual_knowledge_base():
    embedder = LocalEmbedder()
    texts = SHOP_EN + CLINIC_AR
    index = VectorIndex(
        [PassageRef(str(i), "item", f"p{i}", t) for i, t in enumerate(texts)],
        await embedder.passages(texts),
    )
    retriever = Retriever(uuid.uuid4(), Passages.of(index), embedder, KnowledgeSettings())
    plain_misses = 0
    for question, answer in (
        ("كم يومًا لدي لإرجاع منتج؟", 0),  # how many days do I have to return an item?
        ("متى يفتح المتجر؟", 1),  # when does the shop open?
        ("هل تقبلون الدفع بالبطاقة؟", 4),  # do you accept payment by card?
    ):
        vector = await embedder.query(question)
        plain_misses += int(np.argmax(index.matrix @ vector)) != answer
        found = await retriever.search(question)
        assert found and found[0].text == texts[answer], (question, found)
        assert found[0].cross_language
    assert plain_misses == 3  # the plain cosine puts an Arabic passage first for each


def test_a_question_waits_for_the_batch_in_progress_not_for_the_whole_document():
    engine = _EngineTurns()
    order: list[str] = []
    first_batch, go_on = threading.Event(), threading.Event()

    def document() -> None:
        for n in range(3):
            with engine.turn(is_query=False):
                order.append(f"batch {n}")
                if n == 0:
                    first_batch.set()
                    go_on.wait(5)

    def question() -> None:
        with engine.turn(is_query=True):
            order.append("question")

    ingest = threading.Thread(target=document)
    ingest.start()
    assert first_batch.wait(5)
    ask = threading.Thread(target=question)
    ask.start()
    deadline = time.monotonic() + 5
    while engine._queries_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # until the question waits for the engine (nothing to await)
    go_on.set()
    ingest.join(5)
    ask.join(5)
    assert order == ["batch 0", "question", "batch 1", "batch 2"]


async def test_the_cache_reloads_only_when_the_revision_changes():
    cache = IndexCache(capacity=2)
    loads = []

    async def load(tag: str):
        loads.append(tag)
        return VectorIndex([], np.zeros((0, 3), dtype=np.float32))

    await cache.get("a", 1, lambda: load("a1"))
    await cache.get("a", 1, lambda: load("a1 again"))
    await cache.get("a", 2, lambda: load("a2"))
    await cache.get("b", 1, lambda: load("b1"))
    await cache.get("c", 1, lambda: load("c1"))  # evicts a, the least recently used
    await cache.get("a", 2, lambda: load("a2 again"))
    assert loads == ["a1", "a2", "b1", "c1", "a2 again"]


async def test_an_openai_compatible_endpoint_embeds_in_batches():
    async with FakeOpenAI(api_keys={"sk-e"}) as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-e", max_retries=0)
        embedder = OpenAIEmbedder(client, "text-embedding-3-small", batch=2)
        vectors = await embedder.passages(["the shop opens at nine", "refunds in 30 days", "x"])
        assert vectors.shape == (3, 1536)
        query = await embedder.query("when does the shop open")
        assert int(np.argmax(vectors @ query)) == 0
        assert len([r for r in fake.state.requests if r.route == "embeddings"]) == 3
        bad = OpenAIEmbedder(
            openai.AsyncOpenAI(base_url=fake.base_url, api_key="wrong", max_retries=0), "m"
        )
        with pytest.raises(EmbeddingError, match="embeddings endpoint failed"):
            await bad.query("hello")


# --- retrieval ------------------------------------------------------------------------------


@dataclass
class Row:
    chunk_id: uuid.UUID
    item_id: uuid.UUID
    source: str
    text: str
    embedding: bytes


class Passages:
    """An in-memory `PassageStore` (the store's own is tested against real databases)."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.revision_number = 0
        self.loads = 0
        self.asked = 0
        """Times the revision was asked for."""

    @classmethod
    def of(cls, index: VectorIndex) -> Passages:
        """The passages of `index`, as one item's."""
        store = cls()
        item = uuid.uuid4()
        for ref, vector in zip(index.refs, index.matrix, strict=True):
            store.rows.append(Row(uuid.uuid4(), item, ref.source, ref.text, to_bytes(vector)))
        return store

    async def revision(self, agent_id: uuid.UUID) -> int:
        self.asked += 1
        return self.revision_number

    async def passages(self, agent_id: uuid.UUID, model: str) -> list[Row]:
        self.loads += 1
        return self.rows


async def test_retriever_uses_the_cached_index_until_the_knowledge_changes(faq_index):
    embedder, index = faq_index
    store = Passages.of(index)
    retriever = Retriever(
        uuid.uuid4(), store, embedder, KnowledgeSettings(), IndexCache(), recheck_seconds=0
    )
    found = await retriever.search("When are you open?")
    assert found[0].source == "hours"
    await retriever.search("How much does shipping cost?")
    assert store.loads == 1
    store.rows = store.rows[:1]
    store.revision_number += 1
    found = await retriever.search("When are you open?", min_score=0.0)
    assert store.loads == 2 and [p.source for p in found] == ["returns"]
    assert await retriever.search("   ") == []


async def test_a_calls_turns_ask_the_store_once_within_the_recheck_time(faq_index):
    embedder, _ = faq_index
    store = Passages()
    retriever = Retriever(uuid.uuid4(), store, embedder, KnowledgeSettings(), IndexCache())
    for _ in range(3):
        assert len(await retriever.index()) == 0
    assert store.asked == 1
    retriever.recheck_seconds = 0
    await retriever.index()
    assert store.asked == 2


async def test_a_lookup_asks_the_store_once_and_tells_no_knowledge_from_no_answer(faq_index):
    embedder, index = faq_index
    store = Passages.of(index)
    retriever = Retriever(
        uuid.uuid4(), store, embedder, KnowledgeSettings(), IndexCache(), recheck_seconds=0
    )
    found = await retriever.lookup("When are you open?")
    assert found is not None and found[0].source == "hours" and store.asked == 1
    assert await retriever.lookup("Who won the match last night?") == [] and store.asked == 2
    store.rows = []
    store.revision_number += 1
    assert await retriever.lookup("When are you open?") is None and store.asked == 3


async def test_once_the_agent_has_knowledge_the_question_is_embedded_while_the_store_is_asked(
    faq_index,
):
    embedder, index = faq_index
    embedding_started = asyncio.Event()

    class Watched:
        model = embedder.model

        async def query(self, text: str):
            embedding_started.set()
            return await embedder.query(text)

        async def passages(self, texts):
            return await embedder.passages(texts)

    class WaitsForTheEmbedding(Passages):
        gate = False

        async def revision(self, agent_id: uuid.UUID) -> int:
            if self.gate:  # answers only once the question is being embedded
                await asyncio.wait_for(embedding_started.wait(), 5)
            return await super().revision(agent_id)

    store = WaitsForTheEmbedding()
    store.rows = Passages.of(index).rows
    retriever = Retriever(
        uuid.uuid4(), store, Watched(), KnowledgeSettings(), IndexCache(), recheck_seconds=0
    )
    first = await retriever.lookup("When are you open?")
    assert first and first[0].source == "hours"
    store.gate = True
    embedding_started.clear()
    found = await retriever.lookup("How much does shipping cost?")
    assert found and found[0].source == "shipping" and store.asked == 2


def test_the_prompt_quotes_sources_or_says_there_is_nothing():
    passage = Passage("c", "i", "Returns policy", "Returns within 30 days.", 0.9)
    text = knowledge_prompt([passage])
    assert "[1] (Returns policy) Returns within 30 days." in text
    assert "do not know" in knowledge_prompt([])


async def test_passages_far_below_the_best_are_left_out(faq_index):
    embedder, index = faq_index
    store = Passages.of(index)
    question = "How many days do I have to return an item?"
    everything = await Retriever(
        uuid.uuid4(), store, embedder, KnowledgeSettings(), IndexCache()
    ).search(question, top_k=4, min_score=0.0, margin=1.0)
    assert len(everything) == 4
    best = everything[0].score
    margin = (best - everything[-1].score) / 2  # between the best and the worst
    kept = await Retriever(
        uuid.uuid4(), store, embedder, KnowledgeSettings(score_margin=margin), IndexCache()
    ).search(question, top_k=4, min_score=0.0)
    assert kept and len(kept) < 4
    assert [p.chunk_id for p in kept] == [p.chunk_id for p in everything[: len(kept)]]
    assert all(p.score >= best - margin for p in kept)
