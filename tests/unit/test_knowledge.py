"""The knowledge package: chunking, document formats, the packaged embedder, the index and
its cache, retrieval and the words put before the model."""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass

import numpy as np
import openai
import pytest

from agent.contract import KnowledgeSettings
from agent.knowledge import Retriever, knowledge_prompt
from fake_providers.openai import FakeOpenAI
from knowledge.chunking import chunk_text
from knowledge.documents import DocumentError, UnsupportedDocumentError, extract, format_of
from knowledge.embeddings import (
    EmbeddingError,
    LocalEmbedder,
    OpenAIEmbedder,
    from_bytes,
    normalise,
    to_bytes,
)
from knowledge.index import IndexCache, Passage, PassageRef, VectorIndex

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
