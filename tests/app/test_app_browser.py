"""The chat UI and /embed in a real browser (Debian's chromium through Playwright), with the
real answering chain over a real index of docs_corpus/.

Run with ``pytest -m browser tests/app``. Screenshots of each flow are written to the test's
temporary folder (their paths are printed).
"""

from __future__ import annotations

import functools
import http.server
import json
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
from app_support import *  # noqa: F403 (the fixtures)
from app_support import free_port, webapp

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXAMPLE = "Why are Canada–Mexico relations at a low point?"
TIMEOUT = 90_000  # ms: the first answer loads the encoder and builds the lexical index

HOSTILE_MD = """# Clove levy notes <script>window.__pwned = "script"</script>

The Zanzibar clove export levy is 9 percent of the export value <img src=x onerror="window.__pwned='img'"> and it applies from May 2025.

Traders asked about it <svg onload="window.__pwned='svg'"></svg> ${window.__pwned='tpl'} {{constructor.constructor('window.__pwned=1')()}} [click](javascript:window.__pwned='md').
"""

HOSTILE_HTML = """<!doctype html><html><head><title>Pepper board <script>x</script></title>
<script>window.__pwned = "html-script"</script></head><body onload="window.__pwned='onload'">
<main><h1>Pepper board</h1><p>The pepper marketing board sets a floor price of 300 shillings
per kilo.</p><img src=x onerror="window.__pwned='html-img'"></main></body></html>"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: `apt-get install chromium` (scripts/setup.sh --dev)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.on("dialog", lambda d: d.accept())
    yield pg
    context.close()


def shot(page, tmp_path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def ask(page, question: str) -> None:
    box = page.locator("#tc-question textarea")
    box.fill(question)
    box.press("Enter")


def last_answer(page):
    page.wait_for_function(
        "() => { const m = [...document.querySelectorAll('#tc-chat .message.bot')].pop();"
        " return m && m.querySelector('.tc-answer') &&"
        " !m.querySelector('.tc-streaming'); }",
        timeout=TIMEOUT,
    )
    return page.locator("#tc-chat .message.bot").last


@pytest.fixture
def ui_server(corpus_settings, serve):
    return serve(webapp.create_app(corpus_settings()))


def test_example_question_gets_a_cited_answer_whose_source_opens(ui_server, page, tmp_path):
    page.goto(ui_server.url + "/")
    page.locator("#tc-chat button.example", has_text=EXAMPLE).click()
    answer = last_answer(page)
    assert page.locator("#tc-chat .message.user").last.inner_text().strip() == EXAMPLE
    markers = answer.locator(".tc-answer > a.tc-cite")
    assert markers.count() >= 1
    assert "Canada–Mexico" in answer.locator(".tc-sources").inner_text()
    shot(page, tmp_path, "answer")

    title = markers.first.get_attribute("title")
    markers.first.click()
    panel = page.locator("#tc-source-panel .tc-source")
    panel.locator("mark").wait_for()
    assert panel.locator("h3").inner_text() == title
    quote = panel.locator("mark").inner_text()
    context = panel.locator(".tc-source-text").inner_text()
    assert len(quote) > 20 and len(context) > len(quote) + 100  # the quote, in its text
    link = panel.locator("a.tc-open").get_attribute("href")
    assert link.startswith("/files/canada_mexico_relations.html")
    shot(page, tmp_path, "source-panel")
    page.goto(ui_server.url + link)  # the original opens (scripts sandboxed)
    assert "Canada" in page.content()

    assert page.errors == []


def test_follow_up_uses_the_conversation(ui_server, page, tmp_path):
    page.goto(ui_server.url + "/")
    ask(page, EXAMPLE)
    last_answer(page)
    ask(page, "What did the two leaders focus on when they met in September 2025?")
    page.wait_for_function("document.querySelectorAll('#tc-chat .message.bot').length == 2")
    answer = last_answer(page)
    assert answer.locator("a.tc-cite").count() >= 1
    assert "Canada–Mexico" in answer.locator(".tc-sources").inner_text()
    shot(page, tmp_path, "follow-up")


def test_feedback_buttons_store_a_rating_and_comment(ui_server, corpus_settings, page):
    page.goto(ui_server.url + "/")
    ask(page, EXAMPLE)
    answer = last_answer(page)
    page.locator("#tc-chat button[aria-label='Like']").last.click()
    page.locator("#tc-comment textarea, #tc-comment input").fill("clear and cited")
    page.locator("#tc-comment-send").click()
    page.locator("#tc-comment-row").wait_for(state="hidden")
    with sqlite3.connect(corpus_settings().feedback_db) as conn:
        rows = conn.execute(
            "SELECT rating, comment, client, question, citations FROM feedback WHERE client = 'ui'"
        ).fetchall()
    assert ("up", "clear and cited", "ui", EXAMPLE) in [r[:4] for r in rows]
    assert json.loads(rows[-1][4]) and answer.count() == 1


@pytest.fixture
def tiny_ui(tiny_settings, serve):
    settings = tiny_settings()
    server = serve(webapp.create_app(settings))
    server.settings = settings
    return server


def test_upload_a_document_then_ask_about_it_then_delete_it(tiny_ui, page, tmp_path):
    doc = tmp_path / "cocoa_rules.md"
    doc.write_text(
        "# Cocoa export rules\n\nGhana's cocoa board requires every exporter of "
        "cocoa beans to hold a licence renewed each October. Shipments without the "
        "licence are held at the port of Tema.\n",
        encoding="utf-8",
    )
    page.goto(tiny_ui.url + "/")
    page.locator("#tc-tab-docs-button").click()
    page.locator("#tc-upload input[type=file]").set_input_files(str(doc))
    page.locator("#tc-upload-report .tc-up-ok").wait_for()
    assert "cocoa_rules.md" in page.locator("#tc-upload-report").inner_text()
    page.locator("#tc-doc-list", has_text="Cocoa export rules").wait_for()
    shot(page, tmp_path, "uploaded")

    ask(page, "When must a cocoa exporter's licence be renewed?")
    answer = last_answer(page)
    assert "October" in answer.inner_text()
    assert "Cocoa export rules" in answer.locator(".tc-sources").inner_text()
    shot(page, tmp_path, "asked-upload")

    page.locator("#tc-tab-docs-button").click()
    page.locator("button.tc-del[value='cocoa_rules.md']").click()  # confirm() is accepted
    page.wait_for_function("!document.querySelector(\"button.tc-del[value='cocoa_rules.md']\")")
    assert not (tiny_ui.settings.uploads_dir / "cocoa_rules.md").exists()


def test_hostile_documents_run_nothing(tiny_ui, page, tmp_path):
    md = tmp_path / 'clove <img src=x onerror="window.__pwned=1">.md'
    md.write_text(HOSTILE_MD, encoding="utf-8")
    html = tmp_path / "pepper.html"
    html.write_text(HOSTILE_HTML, encoding="utf-8")
    # Browsers upload through Gradio, which tidies file names; the API keeps them as sent.
    evil_name = "<img src=x onerror=\"window.__pwned='name'\">.md"
    r = httpx.post(
        f"{tiny_ui.url}/api/documents",
        timeout=120,
        files={"file": (evil_name, b"# Evil name\n\nA harmless body about figs.")},
    )
    assert r.status_code == 201, r.text
    page.goto(tiny_ui.url + "/")
    page.locator("#tc-tab-docs-button").click()
    page.locator("#tc-upload input[type=file]").set_input_files([str(md), str(html)])
    page.wait_for_function("document.querySelectorAll('#tc-upload-report li').length == 2")
    assert page.locator("#tc-upload-report .tc-up-ok").count() == 2, page.locator(
        "#tc-upload-report"
    ).inner_text()
    page.locator("#tc-doc-list", has_text="onerror").wait_for()  # the name, shown as text

    ask(page, "What is the Zanzibar clove export levy?")
    answer = last_answer(page)
    text = answer.inner_text()
    assert "9 percent" in text
    answer.locator(".tc-answer > a.tc-cite").first.click()
    page.locator("#tc-source-panel mark").wait_for()
    panel_text = page.locator("#tc-source-panel").inner_text()
    assert "<img src=x onerror=" in panel_text or "<img src=x onerror=" in text
    shot(page, tmp_path, "hostile")
    ask(page, "What floor price does the pepper marketing board set?")
    last_answer(page)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#tc-chat img, #tc-source-panel img, #tc-doc-list img").count() == 0

    # Deleting it shows its name in a toast (Gradio renders toasts as HTML).
    page.locator("#tc-tab-docs-button").click()
    page.locator("button.tc-del[value^='<img']").click()
    page.locator(".toast-body, [data-testid='toast-body']", has_text="Removed").first.wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None

    # The originals, opened from the source panel, run nothing either.
    page.goto(tiny_ui.url + "/files/pepper.html")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None


class _Portal:
    """A static site on another origin (another port) whose page frames a URL."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def frame(self, src: str) -> None:
        (self.folder / "index.html").write_text(
            "<!doctype html><title>Portal</title><h1>Partner portal</h1>"
            f'<iframe id="tc" src="{src}" style="width:460px;height:680px;border:1px '
            'solid #ccc"></iframe>',
            encoding="utf-8",
        )

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_embed_in_an_allowed_portal_works_and_other_origins_are_blocked(
    corpus_settings, serve, page, tmp_path
):
    portal = _Portal(tmp_path / "portal")
    blocked = _Portal(tmp_path / "blocked")
    try:
        settings = corpus_settings(
            api_token="portal-token-never-in-pages", allowed_origins=[portal.url]
        )
        server = serve(webapp.create_app(settings))
        portal.frame(f"{server.url}/embed")
        blocked.frame(f"{server.url}/embed")

        page.goto(portal.url + "/")
        frame = page.frame_locator("iframe#tc")
        frame.locator(".tc-example", has_text=EXAMPLE).click()
        bubble = frame.locator(".tc-assistant .tc-bubble").last
        bubble.locator(".tc-sources").wait_for()
        assert bubble.locator("p .tc-cite").count() >= 1
        bubble.locator(".tc-fb").first.click()
        frame.locator(".tc-thanks", has_text="Thanks").wait_for()
        bubble.locator("p .tc-cite").first.click()
        frame.locator("#tc-panel mark").wait_for()
        assert len(frame.locator("#tc-panel-text").inner_text()) > 100
        assert frame.locator("#tc-panel-open").get_attribute("href").startswith("/files/")
        shot(page, tmp_path, "embed-portal")
        embed_html = next(f for f in page.frames if f.url.endswith("/embed")).content()
        assert "portal-token-never-in-pages" not in embed_html

        page.goto(blocked.url + "/")
        page.wait_for_timeout(1500)
        child = [f for f in page.frames if f is not page.main_frame]
        assert child, "the iframe element is there"
        assert not child[0].url.endswith("/embed") or child[0].locator("#tc-app").count() == 0
        assert page.frame_locator("iframe#tc").locator("#tc-app").count() == 0
        shot(page, tmp_path, "embed-blocked")
    finally:
        portal.close()
        blocked.close()


def test_embed_escapes_hostile_answers(tiny_settings, serve, page, tmp_path):
    server = serve(webapp.create_app(tiny_settings()))
    with httpx.Client(base_url=server.url, timeout=120) as c:
        r = c.post("/api/documents", files={"file": ("clove.md", HOSTILE_MD.encode())})
        assert r.status_code == 201, r.text
    page.goto(server.url + "/embed")
    page.locator("#tc-input").fill("What is the Zanzibar clove export levy?")
    page.locator("#tc-input").press("Enter")
    bubble = page.locator(".tc-assistant .tc-bubble").last
    bubble.locator(".tc-feedback").wait_for()
    assert "9 percent" in bubble.inner_text()
    bubble.locator("p .tc-cite").first.click()
    page.locator("#tc-panel mark").wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#tc-log img, #tc-panel img").count() == 0
    shot(page, tmp_path, "embed-hostile")


def make_proxy(prefix: str, upstream: str):
    """A minimal reverse proxy (as nginx would be configured): ``prefix`` is stripped, the
    Host header is kept, responses are streamed (server-sent events pass through)."""
    hop = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length"}

    async def proxy(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if not (path == prefix or path.startswith(prefix + "/")):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not under the prefix"})
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        url = upstream + (path[len(prefix) :] or "/") + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.decode() not in hop]
        async with httpx.AsyncClient(timeout=None) as client:
            async with client.stream(scope["method"], url, headers=headers, content=body) as r:
                out = [
                    (k.encode(), v.encode())
                    for k, v in r.headers.multi_items()
                    if k.lower() not in hop
                ]
                await send({"type": "http.response.start", "status": r.status_code, "headers": out})
                async for chunk in r.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return proxy


def test_the_ui_works_behind_a_proxy_under_a_sub_path(corpus_settings, serve, page, tmp_path):
    settings = corpus_settings(root_path="/tradechat")
    backend = serve(webapp.create_app(settings), root_path="/tradechat")
    proxy = serve(make_proxy("/tradechat", backend.url))
    page.goto(proxy.url + "/tradechat/")
    ask(page, EXAMPLE)
    answer = last_answer(page)
    answer.locator(".tc-answer > a.tc-cite").first.click()
    link = page.locator("#tc-source-panel a.tc-open")
    link.wait_for()
    assert link.get_attribute("href").startswith("/tradechat/files/")
    shot(page, tmp_path, "sub-path")
    page.goto(proxy.url + "/tradechat/embed")
    page.locator(".tc-example").first.click()
    page.locator(".tc-assistant .tc-sources").wait_for()
    assert page.errors == []
