"""The HTTP API, through a real uvicorn server on 127.0.0.1.

Most tests use the fake chain of ``app_fakes`` (fast, fixed answers over the real index);
``test_real_chain_*`` use ``rag.chain`` itself.
"""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest
from app_fakes import FakeChain
from app_support import *  # noqa: F403 (the fixtures)
from app_support import webapp

QUESTION = "Why are Canada–Mexico relations at a low point?"


@pytest.fixture
def fake() -> FakeChain:
    return FakeChain()


@pytest.fixture
def corpus_api(corpus_settings, fake, serve, client_for):
    """A client of a server (API only, fake chain) over the docs_corpus index."""
    app = webapp.create_app(corpus_settings(), fake.answer, fake.stream, fake.reset, ui=False)
    return client_for(serve(app))


@pytest.fixture
def tiny_api(tiny_settings, fake, serve, client_for):
    """A client of a server (API only, fake chain) over a fresh tiny index it may change."""
    settings = tiny_settings(max_upload_mb=0.05)
    app = webapp.create_app(settings, fake.answer, fake.stream, fake.reset, ui=False)
    client = client_for(serve(app))
    client.settings = settings
    return client


def sse_events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# --- asking -----------------------------------------------------------------------------------


def test_ask_returns_the_answer_json_with_citations(corpus_api, fake):
    r = corpus_api.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["question"] == QUESTION
    assert body["citations"] and body["citations"][0]["source"].endswith(".html")
    assert set(body) >= {"answer", "refused", "citations", "retrieved", "timings_ms"}
    assert "standalone_question" not in body  # same JSON as `tradechat ask --json`


def test_ask_passes_history_and_filters_to_the_chain(corpus_api, fake):
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Visas."}]
    r = corpus_api.post(
        "/api/ask",
        json={
            "question": "And what happened in 2025?",
            "history": history,
            "filters": {"source": ["canada_mexico_relations.html"]},
        },
    )
    assert r.status_code == 200, r.text
    call = fake.calls[-1]
    assert [t.content for t in call["history"]] == [QUESTION, "Visas."]
    assert call["filters"] == {"source": ["canada_mexico_relations.html"]}


def test_stream_sends_tokens_then_the_cited_answer(corpus_api):
    r = corpus_api.post("/api/ask/stream", json={"question": QUESTION})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    kinds = [k for k, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert kinds[0] == "token" and len(kinds) > 3
    tokens = "".join(d["text"] for k, d in events if k == "token")
    answer = events[-1][1]
    assert tokens == answer["answer"]
    assert answer["citations"]


@pytest.mark.parametrize("path", ["/api/ask", "/api/ask/stream"])
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"question": "unterminated', 400, "invalid_json"),
        (b"\xff\xfe not json", 400, "invalid_json"),
        (b'{"question": 42}', 422, "invalid_request"),
        (b"{}", 422, "invalid_request"),
        (b'["a list"]', 422, "invalid_request"),
        (b'{"question": "ok?", "surprise": 1}', 422, "invalid_request"),
        (b'{"question": "   "}', 400, "empty_question"),
        (
            b'{"question": "ok?", "history": [{"role": "system", "content": "x"}]}',
            422,
            "invalid_request",
        ),
        (b'{"question": "ok?", "filters": {"source": "not-a-list"}}', 422, "invalid_request"),
    ],
)
def test_bad_requests_get_a_clear_json_error(corpus_api, path, body, status, code):
    r = corpus_api.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == code
    assert r.json()["message"]


def test_oversized_question_and_body_are_rejected(corpus_api):
    long_q = "tariff " * 400  # 2800 chars > max_question_chars (2000)
    r = corpus_api.post("/api/ask", json={"question": long_q})
    assert r.status_code == 413 and r.json()["error"] == "question_too_long"
    assert "2000" in r.json()["message"]
    r = corpus_api.post("/api/ask/stream", json={"question": long_q})
    assert r.status_code == 413
    huge = json.dumps({"question": "x" * 3_000_000})
    r = corpus_api.post("/api/ask", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_huge_body_without_content_length_is_cut_off(corpus_api):
    def chunks():
        yield b'{"question": "'
        for _ in range(40):
            yield b"x" * 100_000
        yield b'"}'

    r = corpus_api.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_history_length_is_limited(corpus_api):
    history = [{"role": "user", "content": "q"}] * 51
    r = corpus_api.post("/api/ask", json={"question": "ok?", "history": history})
    assert r.status_code == 422


def test_empty_index_is_a_503_not_a_crash(tmp_path, serve, client_for, fake):
    from tradechat.settings import Settings

    settings = Settings(data_dir=tmp_path / "d", index_dir=tmp_path / "i")
    client = client_for(
        serve(webapp.create_app(settings, fake.answer, fake.stream, fake.reset, ui=False))
    )
    r = client.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 503 and r.json()["error"] == "index_empty"
    r = client.post("/api/ask/stream", json={"question": QUESTION})
    assert r.status_code == 503
    assert client.get("/api/documents").json()["documents"] == []


def test_a_chain_crash_is_a_500_json_and_the_server_lives_on(corpus_settings, serve, client_for):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    def stream_then_boom(*args, **kwargs):
        yield {"event": "token", "data": "Partial "}
        raise RuntimeError("secret internal detail")

    app = webapp.create_app(
        corpus_settings(), boom, stream_then_boom, lambda s=None: None, ui=False
    )
    client = client_for(serve(app))
    r = client.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "secret" not in r.text
    r = client.post("/api/ask/stream", json={"question": QUESTION})
    events = sse_events(r.text)
    assert events[0] == ("token", {"text": "Partial "})
    assert events[-1][0] == "error" and "secret" not in r.text
    assert client.get("/healthz").status_code == 200


def test_unknown_api_paths_and_methods_are_json_404s(corpus_api):
    r = corpus_api.get("/api/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = corpus_api.get("/api/ask")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"
    r = corpus_api.put("/api/documents/x.md")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE"


# --- documents ------------------------------------------------------------------------------


def test_documents_lists_the_corpus(corpus_api):
    r = corpus_api.get("/api/documents")
    assert r.status_code == 200
    docs = {d["id"]: d for d in r.json()["documents"]}
    assert "canada_mexico_relations.html" in docs
    pdf = docs["usmca_auto_rules_of_origin.pdf"]
    assert pdf["origin"] == "corpus" and pdf["pages"] >= 1 and pdf["chunks"] >= 1
    assert pdf["url"] == "/files/usmca_auto_rules_of_origin.pdf"
    assert "indexing" in r.json()


def test_upload_indexes_the_file_and_it_can_be_asked_about(tiny_api, fake):
    text = "# Widget duties\n\nImported widgets pay a duty of 7 percent since June 2024.\n"
    r = tiny_api.post(
        "/api/documents", files={"file": ("widgets.md", text.encode(), "text/markdown")}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["result"]["status"] == "new" and body["result"]["chunks_added"] >= 1
    assert body["document"]["id"] == "widgets.md" and body["document"]["origin"] == "upload"
    assert fake.resets >= 1  # the chain was told the index changed
    assert (tiny_api.settings.uploads_dir / "widgets.md").read_text() == text
    ids = [d["id"] for d in tiny_api.get("/api/documents").json()["documents"]]
    assert "widgets.md" in ids
    answer = tiny_api.post("/api/ask", json={"question": "What duty do imported widgets pay?"})
    assert answer.json()["citations"][0]["source"] == "widgets.md"
    # the same file again is "unchanged"; a new version is "changed"
    r = tiny_api.post("/api/documents", files={"file": ("widgets.md", text.encode())})
    assert r.json()["result"]["status"] == "unchanged"
    r = tiny_api.post("/api/documents", files={"file": ("widgets.md", (text + "More.\n").encode())})
    assert r.json()["result"]["status"] == "changed"


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("../../evil.md", b"# x\n\ntext", 400, "bad_filename"),
        ("..\\evil.md", b"# x\n\ntext", 400, "bad_filename"),
        ("/etc/passwd.md", b"# x\n\ntext", 400, "bad_filename"),
        (".hidden.md", b"# x\n\ntext", 400, "bad_filename"),
        ("tool.exe", b"MZ\x90\x00", 415, "unsupported_type"),
        ("noext", b"text", 415, "unsupported_type"),
        ("fake.pdf", b"<html>not a pdf</html>", 415, "wrong_content"),
        ("fake.docx", b"plain text", 415, "wrong_content"),
        ("broken.pdf", b"%PDF-1.4\n garbage garbage", 422, "unreadable_document"),
        ("empty.md", b"", 400, "empty_file"),
        ("big.md", b"x" * 60_000, 413, None),
        ("port_fees.md", b"# clash\n\nsame name as a corpus file", 409, "name_taken"),
    ],
)
def test_bad_uploads_are_rejected_and_leave_nothing_behind(tiny_api, name, content, status, code):
    before = tiny_api.get("/api/documents").json()["documents"]
    r = tiny_api.post("/api/documents", files={"file": (name, content)})
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error"] == code
    assert tiny_api.get("/api/documents").json()["documents"] == before
    uploads = tiny_api.settings.uploads_dir
    leftovers = list(uploads.iterdir()) if uploads.exists() else []
    assert leftovers == []
    assert not (tiny_api.settings.data_dir.parent / "evil.md").exists()


def test_upload_needs_the_file_field(tiny_api):
    r = tiny_api.post("/api/documents", files={"document": ("a.md", b"# a\n\ntext")})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = tiny_api.post(
        "/api/documents",
        content=b"not multipart",
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert 400 <= r.status_code < 500


def test_a_bad_replacement_keeps_the_last_good_file(tiny_api):
    good = b"%PDF-1.4 placeholder"
    assert (
        tiny_api.post(
            "/api/documents", files={"file": ("notes.md", b"# Notes\n\nGood text.")}
        ).status_code
        == 201
    )
    r = tiny_api.post("/api/documents", files={"file": ("notes.md", b"\x00\x01\x02" * 100)})
    assert r.status_code == 422
    assert (tiny_api.settings.uploads_dir / "notes.md").read_bytes() == b"# Notes\n\nGood text."
    del good


def test_delete_an_upload_removes_its_chunks_and_file(tiny_api):
    tiny_api.post("/api/documents", files={"file": ("gone soon.md", b"# Temp\n\nShort-lived.")})
    r = tiny_api.delete("/api/documents/gone%20soon.md")
    assert r.status_code == 200, r.text
    assert r.json()["chunks_removed"] >= 1 and r.json()["file_deleted"] is True
    assert not (tiny_api.settings.uploads_dir / "gone soon.md").exists()
    ids = [d["id"] for d in tiny_api.get("/api/documents").json()["documents"]]
    assert "gone soon.md" not in ids
    assert tiny_api.delete("/api/documents/gone%20soon.md").status_code == 404


def test_delete_a_corpus_document_keeps_its_file(tiny_api):
    r = tiny_api.delete("/api/documents/quota.html")
    assert r.status_code == 200, r.text
    assert r.json()["file_deleted"] is False and "comes back" in r.json()["note"]
    assert (tiny_api.settings.corpus_dir / "quota.html").exists()
    ids = [d["id"] for d in tiny_api.get("/api/documents").json()["documents"]]
    assert ids == ["port_fees.md"]
    assert tiny_api.get("/files/quota.html").status_code == 404


def test_delete_unknown_or_traversal_ids_is_404(tiny_api):
    for doc_id in ("nope.md", "..%2F..%2Fetc%2Fpasswd", "../port_fees.md"):
        assert tiny_api.delete(f"/api/documents/{doc_id}").status_code == 404


# --- files and passages ----------------------------------------------------------------------


def test_files_serves_indexed_originals_only(corpus_api, corpus_copy):
    r = corpus_api.get("/files/usmca_auto_rules_of_origin.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content == (corpus_copy / "usmca_auto_rules_of_origin.pdf").read_bytes()
    r = corpus_api.get("/files/canada_mexico_relations.html")
    assert r.status_code == 200
    assert "sandbox" in r.headers["content-security-policy"]  # its scripts cannot run
    assert r.headers["x-content-type-options"] == "nosniff"
    r = corpus_api.get("/files/nafta_to_usmca_what_changed.md")
    assert r.headers["content-type"].startswith("text/plain")
    for bad in (
        "make_pdf.py",
        "../app.py",
        "%2e%2e/%2e%2e/app.py",
        "..%2F..%2Fapp.py",
        "/etc/passwd",
        "nope.pdf",
    ):
        assert corpus_api.get(f"/files/{bad}").status_code == 404, bad


def test_context_returns_the_quote_in_its_surrounding_text(corpus_api):
    cite = corpus_api.post("/api/ask", json={"question": QUESTION}).json()["citations"][0]
    r = corpus_api.get(
        "/api/context",
        params={"source": cite["source"], "start": cite["start"], "end": cite["end"]},
    )
    assert r.status_code == 200, r.text
    ctx = r.json()
    assert ctx["quote"] == cite["quote"]
    assert len(ctx["before"]) > 50 and len(ctx["after"]) > 50
    assert ctx["url"].startswith("/files/canada_mexico_relations.html#:~:text=")
    bad = corpus_api.get(
        "/api/context", params={"source": cite["source"], "start": 10**7, "end": 10**7 + 5}
    )
    assert bad.status_code == 400
    assert (
        corpus_api.get("/api/context", params={"source": "x", "start": 0, "end": 1}).status_code
        == 404
    )


def test_pdf_links_open_at_the_page(corpus_settings):
    backend = webapp.Backend(corpus_settings(), None, None, None)
    rec = backend.records()["usmca_auto_rules_of_origin.pdf"]
    span = rec.pages[-1]
    ctx = backend.context(rec.source, span["start"] + 1, span["start"] + 20)
    assert ctx.page == span["page"]
    assert ctx.url.endswith(f"#page={span['page']}")


# --- feedback ----------------------------------------------------------------------------------


def test_feedback_is_stored_with_question_answer_citations_and_settings(
    corpus_settings, fake, serve, client_for
):
    settings = corpus_settings(api_token="tok-secret-123", llm_api_key="sk-hidden", chroma_url=None)
    app = webapp.create_app(settings, fake.answer, fake.stream, fake.reset, ui=False)
    client = client_for(serve(app), headers={"Authorization": "Bearer tok-secret-123"})
    answer = client.post("/api/ask", json={"question": QUESTION}).json()
    r = client.post(
        "/api/feedback",
        json={
            "rating": "down",
            "comment": "missed the visa dispute",
            "question": QUESTION,
            "answer": answer["answer"],
            "citations": answer["citations"],
        },
    )
    assert r.status_code == 201, r.text
    with sqlite3.connect(settings.feedback_db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM feedback WHERE id = ?", (r.json()["id"],)).fetchone()
    assert row["rating"] == "down" and row["comment"] == "missed the visa dispute"
    assert row["question"] == QUESTION and row["answer"] == answer["answer"]
    assert json.loads(row["citations"])[0]["quote"] == answer["citations"][0]["quote"]
    stored = json.loads(row["settings"])
    assert stored["top_k"] == settings.top_k and stored["retrieval_mode"] == "hybrid"
    assert "tok-secret-123" not in row["settings"] and "sk-hidden" not in row["settings"]
    assert row["created_at"].startswith("20")
    bad = client.post("/api/feedback", json={"rating": "meh", "question": "q", "answer": "a"})
    assert bad.status_code == 422


def test_public_settings_strip_url_passwords(corpus_settings):
    data = webapp.public_settings(corpus_settings(llm_base_url="https://u:pw@llm.example/v1"))
    assert data["llm_base_url"] == "https://llm.example/v1"
    assert "api_token" not in data and "llm_api_key" not in data


# --- health, docs ------------------------------------------------------------------------------


def test_healthz_and_openapi_docs(corpus_api):
    assert corpus_api.get("/healthz").json()["status"] == "ok"
    spec = corpus_api.get("/openapi.json").json()
    for path in (
        "/api/ask",
        "/api/ask/stream",
        "/api/documents",
        "/api/documents/{doc_id}",
        "/api/feedback",
        "/api/context",
        "/api/session",
    ):
        assert path in spec["paths"], path
    docs = corpus_api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    asset = docs.text.split('src="')[1].split('"')[0]
    assert corpus_api.get(asset).status_code == 200  # served locally, works offline


# --- access control -------------------------------------------------------------------------


TOKEN = "s3cret-token-value-42"


@pytest.fixture
def locked(corpus_settings, fake, serve, client_for):
    settings = corpus_settings(api_token=TOKEN, allowed_origins=["http://portal.test:8080"])
    app = webapp.create_app(settings, fake.answer, fake.stream, fake.reset, ui=True)
    return client_for(serve(app))


def test_token_is_required_and_never_in_a_page(locked):
    r = locked.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = locked.post("/api/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer no"})
    assert r.status_code == 401
    r = locked.post(
        "/api/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 200
    assert locked.get("/api/documents").status_code == 401
    for page in (
        "/",
        "/embed",
        "/docs",
        "/openapi.json",
        "/config",
        "/healthz",
        "/web/embed.js",
        "/gradio_api/info",
    ):
        r = locked.get(page)
        assert TOKEN not in r.text, page


def test_same_origin_pages_get_a_session_that_can_ask_but_not_manage(locked):
    assert locked.post("/api/session").status_code == 401  # a script, not a page
    r = locked.post("/api/session", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 401
    r = locked.post("/api/session", headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    session = r.json()["session"]
    assert session and TOKEN not in session and r.json()["expires_in"] == 480 * 60
    auth = {"Authorization": f"Bearer {session}"}
    assert locked.post("/api/ask", json={"question": QUESTION}, headers=auth).status_code == 200
    assert locked.get("/api/documents", headers=auth).status_code == 200
    r = locked.post("/api/documents", headers=auth, files={"file": ("a.md", b"# a\n\nb")})
    assert r.status_code == 403
    assert locked.delete("/api/documents/quota.html", headers=auth).status_code == 403
    tampered = session[:-1] + ("0" if session[-1] != "0" else "1")
    r = locked.post(
        "/api/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {tampered}"}
    )
    assert r.status_code == 401
    # a portal back end holding the token mints a session for its user's browser
    r = locked.post("/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["session"].startswith("tcs1.")


def test_expired_sessions_are_refused(corpus_settings):
    auth = webapp.Auth(corpus_settings(api_token=TOKEN))
    session, _ = auth.issue()
    assert auth.is_session(session)
    prefix, _, sig = session.split(".")
    assert not auth.is_session(f"{prefix}.1000.{sig}")
    other = webapp.Auth(corpus_settings(api_token="another-token"))
    assert not other.is_session(session)


def test_cors_and_framing_follow_allowed_origins(locked):
    ok = locked.options(
        "/api/ask",
        headers={
            "Origin": "http://portal.test:8080",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert ok.headers.get("access-control-allow-origin") == "http://portal.test:8080"
    bad = locked.options(
        "/api/ask", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in bad.headers
    r = locked.get(
        "/api/documents", headers={"Origin": "http://evil.test", "Authorization": f"Bearer {TOKEN}"}
    )
    assert "access-control-allow-origin" not in r.headers
    embed = locked.get("/embed")
    csp = embed.headers["content-security-policy"]
    assert "frame-ancestors 'self' http://portal.test:8080" in csp
    assert "script-src 'self'" in csp and "x-frame-options" not in embed.headers
    home = locked.get("/")
    assert "frame-ancestors 'self'" in home.headers["content-security-policy"]
    assert "portal.test" not in home.headers["content-security-policy"]
    assert home.headers["x-frame-options"] == "SAMEORIGIN"


def test_no_token_means_open_api_and_null_session(corpus_api):
    r = corpus_api.post("/api/session")
    assert r.status_code == 200 and r.json() == {"session": None, "expires_in": None}


# --- sub-path behind a reverse proxy -----------------------------------------------------------


def test_works_under_a_root_path(corpus_settings, fake, serve):
    settings = corpus_settings(root_path="/tradechat")
    app = webapp.create_app(settings, fake.answer, fake.stream, fake.reset, ui=True)
    server = serve(app, root_path="/tradechat")
    # A proxy forwards https://host/tradechat/x as /x, which is what we send here.
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        embed = c.get("/embed").text
        assert 'src="/tradechat/web/embed.js"' in embed
        assert '<meta name="tc-root" content="/tradechat">' in embed
        assert c.get("/web/embed.js").status_code == 200
        docs = c.get("/api/documents").json()["documents"]
        assert docs[0]["url"].startswith("/tradechat/files/")
        assert c.get(docs[0]["url"].removeprefix("/tradechat")).status_code == 200
        assert "/tradechat/openapi.json" in c.get("/docs").text
        config = c.get("/config").json()
        assert config["root"].endswith("/tradechat")


# --- nothing a client sends crashes the server ------------------------------------------------


def test_hostile_requests_never_get_a_500(corpus_api):
    weird = [
        (
            "POST",
            "/api/ask",
            {"content": b"\x00" * 100, "headers": {"content-type": "application/json"}},
        ),
        (
            "POST",
            "/api/ask",
            {
                "content": b'{"question": "' + "é".encode() * 10 + b'"}',
                "headers": {"content-type": "text/plain"},
            },
        ),
        ("POST", "/api/ask", {"json": {"question": None}}),
        ("POST", "/api/ask", {"json": {"question": "x", "history": "nope"}}),
        ("POST", "/api/ask", {"json": {"question": "x", "history": [{"role": "user"}]}}),
        ("POST", "/api/ask", {"json": {"question": "\u202e\u0000\ud7ff"}}),
        ("POST", "/api/ask/stream", {"json": {"question": "x" * 10_000}}),
        ("POST", "/api/feedback", {"json": {"rating": "up"}}),
        (
            "POST",
            "/api/feedback",
            {"content": b"{", "headers": {"content-type": "application/json"}},
        ),
        ("GET", "/api/context", {"params": {"source": "x", "start": -1, "end": "a"}}),
        ("GET", "/api/context", {"params": {"source": "\x00", "start": 0, "end": 1}}),
        ("DELETE", "/api/documents/%00", {}),
        ("GET", "/files/%00", {}),
        ("GET", "/files/" + "a/" * 500, {}),
        ("POST", "/api/documents", {"files": {"file": ("", b"x")}}),
        ("POST", "/api/documents", {"files": {"file": ("a" * 300 + ".md", b"# x\n\ny")}}),
        ("POST", "/api/session", {"content": b"garbage"}),
    ]
    for method, path, kwargs in weird:
        r = corpus_api.request(method, path, **kwargs)
        assert r.status_code < 500, (method, path, r.status_code, r.text)
        if r.status_code >= 400 and path.startswith("/api/"):
            assert "error" in r.json(), (path, r.text)
    assert corpus_api.get("/healthz").status_code == 200
