"""The knowledge base through seed 001's API, on a real control plane, SQLite and PostgreSQL:
items of every kind ingested off the request by the real job (real parsers, the packaged
embedding model), searched, scoped to their company, refused when they must be."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from .conftest import FAST_WEBHOOKS, ApiServer, Tenant, database_url_for, running_api_server

PORTS = {"sqlite": 8370, "postgresql": 8371}
KB = "/v1/api/knowledge-base"

RETURNS = (
    "Returns and refunds. You can return any item within 30 days of delivery for a full "
    "refund. Items must be unused and in their original packaging."
)
HOURS = "Opening hours. Our shop is open Monday to Friday from 9 am to 6 pm."
PAGE = """<html><head><title>About</title><script>var x = 1;</script></head><body>
<nav>Home | Shop | Contact</nav>
<main><h1>Shipping</h1><p>Shipping is free for every order over 50 euros. Parcels arrive
within three working days anywhere in Germany.</p></main>
<footer>Copyright Acme</footer></body></html>"""


def bearer(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


class Pages:
    """A web server on loopback serving the pages URL items read."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str, bytes, dict[str, str]]] = {}
        self.hits: dict[str, int] = {}
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                pages.hits[self.path] = pages.hits.get(self.path, 0) + 1
                status, ctype, body, headers = pages.pages.get(
                    self.path, (404, "text/plain", b"not found", {})
                )
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Pages:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def pages() -> Iterator[Pages]:
    with Pages() as served:
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def kb_api(request, tmp_path_factory, provider_env) -> Iterator[ApiServer]:
    backend = request.param
    database_url = database_url_for(backend, tmp_path_factory.mktemp(f"kb-{backend}"))
    env = {
        "RATE_LIMIT": "100000/minute",
        "AUTH_FAILURE_LIMIT": "100000/minute",
        "KNOWLEDGE_POLL_SECONDS": "0.2",
        "KNOWLEDGE_MAX_FILE_BYTES": "200000",
        "KNOWLEDGE_MAX_ITEMS_PER_AGENT": "12",
        "KNOWLEDGE_URL_MAX_BYTES": "100000",
        "KNOWLEDGE_MIN_REFRESH_SECONDS": "1",
        # Claims renewed between every two passages: long items take that path here.
        "KNOWLEDGE_EMBED_BATCH": "2",
        **FAST_WEBHOOKS,
        **provider_env,
    }
    with running_api_server(
        backend, database_url, PORTS[backend], f"control-plane-kb-{backend}.log", env
    ) as server:
        yield server


async def new_agent(client: httpx.AsyncClient, tenant: Tenant, name: str = "Shop") -> str:
    response = await client.post(
        "/voice-agents",
        json={"name": name, "voice_id": "local:en_US-joe-medium"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def settled(
    client: httpx.AsyncClient, tenant: Tenant, item_id: str, within: float = 60
) -> dict:
    """The item once ingestion is over (ready or failed)."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(f"{KB}/{item_id}", headers=bearer(tenant))
        assert response.status_code == 200, response.text
        item = response.json()["data"]
        if item["status"] != "processing":
            return item
        assert time.monotonic() < deadline, f"item still processing: {item}"
        await asyncio.sleep(0.1)


async def search(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, query: str
) -> list[dict]:
    response = await client.post(
        f"{KB}/search", json={"agent_id": agent_id, "query": query}, headers=bearer(tenant)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]["passages"]


def pdf_bytes(text: str) -> bytes:
    """A one-page PDF whose page shows `text` (Helvetica)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def docx_bytes(paragraphs: list[str]) -> bytes:
    from docx import Document

    document = Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def test_text_items_are_ingested_and_answer_the_question_they_hold(kb_api: ApiServer):
    async with kb_api.client() as client:
        agent_id = await new_agent(client, kb_api.acme)
        added = []
        for title, content in (("Returns", RETURNS), ("Hours", HOURS)):
            response = await client.post(
                f"{KB}/text",
                json={
                    "agent_id": agent_id,
                    "title": title,
                    "content": content,
                    "category": "policies",
                },
                headers=bearer(kb_api.acme),
            )
            assert response.status_code == 201, response.text
            body = response.json()
            assert body["success"] is True and body["data"]["status"] == "processing"
            assert body["timestamp"].endswith("Z")
            added.append(body["data"]["id"])
        for item_id in added:
            item = await settled(client, kb_api.acme, item_id)
            assert item["status"] == "ready", item
            assert item["chunks"] >= 1 and item["category"] == "policies"
        # A longer text: several passages, embedded two at a time, the claim renewed between.
        catalogue = "\n\n".join(
            f"Product {n}. The model {n} kettle holds {n} litres and costs {10 + n} euros. "
            f"It comes in red, blue and steel, and its warranty lasts {n} years."
            for n in range(1, 9)
        )
        response = await client.post(
            f"{KB}/text",
            json={"agent_id": agent_id, "title": "Catalogue", "content": catalogue},
            headers=bearer(kb_api.acme),
        )
        catalogue_item = await settled(client, kb_api.acme, response.json()["data"]["id"])
        assert catalogue_item["status"] == "ready" and catalogue_item["chunks"] >= 3, catalogue_item
        added.append(catalogue_item["id"])

        passages = await search(
            client, kb_api.acme, agent_id, "How many days do I have to return an item?"
        )
        assert passages[0]["source"] == "Returns" and "30 days" in passages[0]["text"]
        assert passages[0]["relevant"] is True
        # Arabic question, English passage: the model is multilingual.
        passages = await search(client, kb_api.acme, agent_id, "متى يفتح المتجر؟")
        assert passages[0]["source"] == "Hours"
        unrelated = await search(client, kb_api.acme, agent_id, "What is the capital of Mongolia?")
        assert all(p["relevant"] is False for p in unrelated), unrelated

        listed = await client.get(
            f"{KB}/list", params={"agent_id": agent_id, "type": "text"}, headers=kb_api.acme.headers
        )
        assert listed.status_code == 200
        assert {i["id"] for i in listed.json()["data"]["items"]} == set(added)

        # Deleting an item takes its passages out of every search at once.
        deleted = await client.delete(f"{KB}/{added[0]}", headers=bearer(kb_api.acme))
        assert deleted.status_code == 200 and deleted.json()["success"] is True
        passages = await search(
            client, kb_api.acme, agent_id, "How many days do I have to return an item?"
        )
        assert all(p["source"] != "Returns" for p in passages)


async def test_files_of_every_format_are_read(kb_api: ApiServer):
    files = {
        "policy.pdf": (
            pdf_bytes("Gift cards are valid for two years from purchase."),
            "application/pdf",
            "Gift cards",
        ),
        "staff.docx": (
            docx_bytes(["Our staff speak English, German and Arabic."]),
            "application/octet-stream",
            "Arabic",
        ),
        "faq.md": (
            b"# FAQ\n\n## Parking\n\nCustomers park for free behind the shop.",
            "text/markdown",
            "park",
        ),
        "prices.csv": (
            b"product,price\nespresso,2.50 euros\ncappuccino,3.20 euros\n",
            "text/csv",
            "cappuccino",
        ),
        "notes.txt": (
            "Die Lieferung nach Österreich kostet 9 Euro.".encode("latin-1"),
            "text/plain",
            "Österreich",
        ),
        "about.html": (PAGE.encode(), "text/html", "Shipping is free"),
    }
    async with kb_api.client() as client:
        agent_id = await new_agent(client, kb_api.acme, "Files")
        for name, (data, ctype, expected) in files.items():
            response = await client.post(
                f"{KB}/file",
                data={"agent_id": agent_id, "category": "docs"},
                files={"file": (name, data, ctype)},
                headers=bearer(kb_api.acme),
            )
            assert response.status_code == 201, response.text
            item = await settled(client, kb_api.acme, response.json()["data"]["id"])
            assert item["status"] == "ready", item
            assert item["type"] == "document" and item["name"] == name
            passages = await search(client, kb_api.acme, agent_id, expected)
            assert any(expected in p["text"] for p in passages if p["source"] == name), (
                name,
                passages,
            )
        html = await search(client, kb_api.acme, agent_id, "Is shipping free?")
        page = next(p for p in html if p["source"] == "about.html")
        assert "Copyright" not in page["text"] and "var x" not in page["text"]

        # Wrong type, too large, empty, damaged: clear errors, nothing kept.
        refused = await client.post(
            f"{KB}/file",
            data={"agent_id": agent_id},
            files={"file": ("tool.exe", b"MZ\x90\x00", "application/x-msdownload")},
            headers=bearer(kb_api.acme),
        )
        assert refused.status_code == 415
        assert (
            refused.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
            and ".pdf" in refused.json()["error"]["message"]
        )
        big = await client.post(
            f"{KB}/file",
            data={"agent_id": agent_id},
            files={"file": ("big.txt", b"a" * 200_001, "text/plain")},
            headers=bearer(kb_api.acme),
        )
        assert big.status_code == 413 and big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        damaged = await client.post(
            f"{KB}/file",
            data={"agent_id": agent_id},
            files={"file": ("broken.pdf", b"%PDF-1.4 garbage", "application/pdf")},
            headers=bearer(kb_api.acme),
        )
        assert damaged.status_code == 201
        item = await settled(client, kb_api.acme, damaged.json()["data"]["id"])
        assert item["status"] == "failed" and item["error"]
        listed = await client.get(
            f"{KB}/list", params={"agent_id": agent_id}, headers=bearer(kb_api.acme)
        )
        assert len(listed.json()["data"]["items"]) == len(files) + 1


async def test_urls_are_fetched_cleaned_refreshed_and_guarded(kb_api: ApiServer, pages: Pages):
    pages.pages["/shipping"] = (200, "text/html; charset=utf-8", PAGE.encode(), {})
    pages.pages["/redirect-to-metadata"] = (
        302,
        "text/plain",
        b"",
        {"Location": "http://169.254.169.254/latest/meta-data/"},
    )
    pages.pages["/huge"] = (200, "text/plain", b"x" * 100_001, {})
    async with kb_api.client() as client:
        agent_id = await new_agent(client, kb_api.acme, "Web")
        response = await client.post(
            f"{KB}/url",
            json={"agent_id": agent_id, "url": pages.url("/shipping"), "refresh_interval": 1},
            headers=bearer(kb_api.acme),
        )
        assert response.status_code == 201, response.text
        item = await settled(client, kb_api.acme, response.json()["data"]["id"])
        assert item["status"] == "ready" and item["format"] == "html", item
        passages = await search(client, kb_api.acme, agent_id, "How long does delivery take?")
        assert (
            "three working days" in passages[0]["text"] and "Home | Shop" not in passages[0]["text"]
        )

        # Refreshed on its schedule: the page changes, the passages follow.
        pages.pages["/shipping"] = (
            200,
            "text/html",
            b"<html><body><p>Shipping now costs 4 euros on every order.</p></body></html>",
            {},
        )
        deadline = time.monotonic() + 30
        while True:
            passages = await search(client, kb_api.acme, agent_id, "What does shipping cost?")
            if passages and "4 euros" in passages[0]["text"]:
                break
            assert time.monotonic() < deadline, passages
            await asyncio.sleep(0.2)
        assert pages.hits["/shipping"] >= 2

        # Refused where it is registered: link-local and private addresses.
        for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/admin"):
            refused = await client.post(
                f"{KB}/url", json={"agent_id": agent_id, "url": url}, headers=bearer(kb_api.acme)
            )
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["field"] == "url" and "EGRESS_ALLOWED_NETWORKS" in error["message"]
        # ... and where a redirect leads: the item fails, saying why.
        redirected = await client.post(
            f"{KB}/url",
            json={"agent_id": agent_id, "url": pages.url("/redirect-to-metadata")},
            headers=bearer(kb_api.acme),
        )
        item = await settled(client, kb_api.acme, redirected.json()["data"]["id"])
        assert item["status"] == "failed" and "link-local" in item["error"], item
        huge = await client.post(
            f"{KB}/url",
            json={"agent_id": agent_id, "url": pages.url("/huge")},
            headers=bearer(kb_api.acme),
        )
        item = await settled(client, kb_api.acme, huge.json()["data"]["id"])
        assert item["status"] == "failed" and "limit" in item["error"], item


async def test_every_company_sees_only_its_own_knowledge(kb_api: ApiServer):
    async with kb_api.client() as client:
        agent_id = await new_agent(client, kb_api.acme, "Private")
        added = await client.post(
            f"{KB}/text",
            json={"agent_id": agent_id, "title": "Secret", "content": "The safe code is 4711."},
            headers=bearer(kb_api.acme),
        )
        item_id = added.json()["data"]["id"]
        await settled(client, kb_api.acme, item_id)
        other = bearer(kb_api.globex)
        assert (await client.get(f"{KB}/{item_id}", headers=other)).status_code == 404
        assert (await client.delete(f"{KB}/{item_id}", headers=other)).status_code == 404
        for path, body in (
            ("/text", {"agent_id": agent_id, "title": "x", "content": "y"}),
            ("/search", {"agent_id": agent_id, "query": "safe code"}),
        ):
            response = await client.post(f"{KB}{path}", json=body, headers=other)
            assert response.status_code == 404
            assert response.json()["error"] == {
                "code": "AGENT_NOT_FOUND",
                "message": "Voice agent not found",
                "field": "agent_id",
            }
        listed = await client.get(f"{KB}/list", headers=other)
        assert item_id not in {i["id"] for i in listed.json()["data"]["items"]}


async def test_errors_come_in_the_seed_envelope(kb_api: ApiServer):
    async with kb_api.client() as client:
        missing = await client.get(f"{KB}/list")
        assert missing.status_code == 401
        body = missing.json()
        assert (
            body["success"] is False
            and body["error"]["code"] == "INVALID_API_KEY"
            and body["timestamp"]
        )
        wrong = await client.get(f"{KB}/list", headers={"Authorization": "Bearer vsa_wrong"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "INVALID_API_KEY"
        agent_id = await new_agent(client, kb_api.acme, "Errors")
        invalid = await client.post(
            f"{KB}/text", json={"agent_id": agent_id, "title": "t"}, headers=bearer(kb_api.acme)
        )
        assert invalid.status_code == 400
        assert invalid.json()["error"] == {
            "code": "INVALID_REQUEST",
            "message": "content: field required",
            "field": "content",
        }
        bad_url = await client.post(
            f"{KB}/url",
            json={"agent_id": agent_id, "url": "ftp://example.com/x"},
            headers=bearer(kb_api.acme),
        )
        assert bad_url.status_code == 400 and bad_url.json()["error"]["field"] == "url"
        # The rest of the API keeps its own shape, and takes the Bearer key too.
        native = await client.get("/voice-agents/nope", headers=bearer(kb_api.acme))
        assert native.json()["detail"] == "Voice agent not found"
        # Items per agent are limited.
        for number in range(12):
            response = await client.post(
                f"{KB}/text",
                json={"agent_id": agent_id, "title": f"t{number}", "content": "c"},
                headers=bearer(kb_api.acme),
            )
            assert response.status_code == 201
        over = await client.post(
            f"{KB}/text",
            json={"agent_id": agent_id, "title": "t", "content": "c"},
            headers=bearer(kb_api.acme),
        )
        assert over.status_code == 409 and "12" in over.json()["error"]["message"]
