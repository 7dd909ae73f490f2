// The /embed page: a compact chat that calls this site's own API. Everything that comes
// from the server (answers, titles, passages) is inserted with textContent, never as HTML.
(() => {
  "use strict";
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const root = meta("tc-root");
  const examples = JSON.parse(meta("tc-examples") || "[]");
  const maxChars = Number(meta("tc-max-chars")) || 2000;
  const $ = (id) => document.getElementById(id);
  const log = $("tc-log");
  const input = $("tc-input");
  const form = $("tc-form");
  const sendBtn = $("tc-send");
  const panel = $("tc-panel");
  const turns = []; // {question, answer}: the conversation, sent back for follow-ups
  let session = null;
  let sessionUntil = 0;
  let busy = false;

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  async function errorMessage(response) {
    try {
      const body = await response.json();
      return body.message || `request failed (${response.status})`;
    } catch {
      return `request failed (${response.status})`;
    }
  }

  // A short-lived session from this site (needed only when the API has a token); the API
  // token itself is never in this page.
  async function getSession(force) {
    if (!force && session !== null && Date.now() < sessionUntil) return session;
    const r = await fetch(`${root}/api/session`, { method: "POST", credentials: "same-origin" });
    if (!r.ok) throw new Error(await errorMessage(r));
    const data = await r.json();
    session = data.session || "";
    sessionUntil = data.expires_in ? Date.now() + (data.expires_in - 60) * 1000 : Infinity;
    return session;
  }

  async function api(path, options = {}, retry = true) {
    const token = await getSession(false);
    const headers = { ...(options.headers || {}), "X-Tradechat-Client": "embed" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`${root}${path}`, { ...options, headers, credentials: "same-origin" });
    if (r.status === 401 && retry && token) {
      await getSession(true);
      return api(path, options, false);
    }
    return r;
  }

  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        yield { event: name, data: data ? JSON.parse(data) : null };
      }
    }
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function addBubble(role) {
    $("tc-intro")?.remove();
    const row = el("div", `tc-row tc-${role}`);
    const bubble = el("div", "tc-bubble");
    row.appendChild(bubble);
    log.appendChild(row);
    return bubble;
  }

  function where(c) {
    return [c.section, c.page ? `p. ${c.page}` : null].filter(Boolean).join(" · ");
  }

  function citeButton(c) {
    const b = el("button", "tc-cite", String(c.n));
    b.type = "button";
    b.title = c.title;
    b.addEventListener("click", () => openSource(c, b));
    return b;
  }

  function renderAnswer(bubble, answer, question) {
    bubble.replaceChildren();
    bubble.classList.remove("tc-streaming");
    if (answer.refused) bubble.classList.add("tc-refused");
    const byN = new Map(answer.citations.map((c) => [c.n, c]));
    for (const para of answer.answer.trim().split(/\n\s*\n/)) {
      const p = el("p");
      for (const piece of para.split(/(\[\d{1,3}\])/)) {
        const m = /^\[(\d{1,3})\]$/.exec(piece);
        if (m) {
          const c = byN.get(Number(m[1]));
          if (c) p.appendChild(citeButton(c)); // a marker with no citation is dropped
        } else if (piece) {
          p.appendChild(document.createTextNode(piece));
        }
      }
      bubble.appendChild(p);
    }
    if (answer.citations.length) {
      const list = el("ol", "tc-sources");
      for (const c of answer.citations) {
        const li = el("li");
        li.appendChild(citeButton(c));
        li.appendChild(el("span", "tc-src-title", c.title));
        const w = where(c);
        if (w) li.appendChild(el("span", "tc-src-where", w));
        list.appendChild(li);
      }
      bubble.appendChild(list);
    }
    bubble.appendChild(feedbackRow(answer, question));
  }

  // A thumb icon drawn with SVG (headless and kiosk browsers often lack emoji fonts).
  function thumb() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M7 10v11H3V10h4zm2 11h8.3a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18.7 10H14l.9-4.4A1.8 1.8 0 0 0 13.1 3.5L9 10v11z");
    svg.appendChild(path);
    return svg;
  }

  function feedbackRow(answer, question) {
    const row = el("div", "tc-feedback");
    const send = async (rating, btn) => {
      row.querySelectorAll("button").forEach((b) => (b.disabled = true));
      btn.classList.add("tc-chosen");
      try {
        const r = await api("/api/feedback", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ rating, question, answer: answer.answer, citations: answer.citations }),
        });
        row.appendChild(el("span", "tc-thanks", r.ok ? "Thanks for the feedback" : await errorMessage(r)));
      } catch (e) {
        row.appendChild(el("span", "tc-thanks", String(e.message || e)));
      }
    };
    for (const [rating, label] of [["up", "Helpful"], ["down", "Not helpful"]]) {
      const b = el("button", `tc-fb tc-fb-${rating}`);
      b.appendChild(thumb());
      b.type = "button";
      b.title = label;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", () => send(rating, b));
      row.appendChild(b);
    }
    return row;
  }

  async function openSource(c, button) {
    document.querySelectorAll(".tc-cite.tc-active").forEach((b) => b.classList.remove("tc-active"));
    button.classList.add("tc-active");
    $("tc-panel-n").textContent = String(c.n);
    $("tc-panel-title").textContent = c.title;
    const meta = [c.section, c.page ? `page ${c.page}` : null, c.source].filter(Boolean);
    $("tc-panel-meta").textContent = meta.join(" · ");
    const text = $("tc-panel-text");
    text.replaceChildren(el("mark", null, c.quote));
    const open = $("tc-panel-open");
    open.hidden = true;
    panel.hidden = false;
    const q = new URLSearchParams({ source: c.source, start: c.start, end: c.end });
    try {
      const r = await api(`/api/context?${q}`);
      if (!r.ok) throw new Error(await errorMessage(r));
      const ctx = await r.json();
      text.replaceChildren(
        document.createTextNode(ctx.before),
        el("mark", null, ctx.quote),
        document.createTextNode(ctx.after),
      );
      if (typeof ctx.url === "string" && ctx.url.startsWith("/")) {
        open.href = ctx.url;
        open.hidden = false;
      }
      text.querySelector("mark")?.scrollIntoView({ block: "center" });
    } catch (e) {
      text.appendChild(el("p", "tc-note", `Could not load the surrounding text: ${e.message || e}`));
    }
  }

  function history() {
    const out = [];
    for (const t of turns.slice(-10)) {
      out.push({ role: "user", content: t.question }, { role: "assistant", content: t.answer.answer });
    }
    return out;
  }

  async function ask(question) {
    question = question.trim();
    if (!question || busy) return;
    if (question.length > maxChars) {
      addBubble("assistant").appendChild(el("p", "tc-error", `Questions are limited to ${maxChars} characters.`));
      return;
    }
    busy = true;
    sendBtn.disabled = true;
    input.value = "";
    autosize();
    addBubble("user").appendChild(el("p", null, question));
    const bubble = addBubble("assistant");
    bubble.classList.add("tc-streaming");
    const live = el("p", null, "");
    bubble.appendChild(live);
    bubble.appendChild(el("span", "tc-caret"));
    scrollDown();
    try {
      const r = await api("/api/ask/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ question, history: history() }),
      });
      if (!r.ok) throw new Error(await errorMessage(r));
      let answer = null;
      for await (const ev of events(r)) {
        if (ev.event === "token") {
          live.textContent += ev.data.text;
          scrollDown();
        } else if (ev.event === "answer") {
          answer = ev.data;
        } else if (ev.event === "error") {
          throw new Error(ev.data.message);
        }
      }
      if (!answer) throw new Error("the answer was cut off; please ask again");
      renderAnswer(bubble, answer, question);
      turns.push({ question, answer });
    } catch (e) {
      bubble.classList.remove("tc-streaming");
      bubble.replaceChildren(el("p", "tc-error", String(e.message || e)));
    } finally {
      busy = false;
      sendBtn.disabled = false;
      scrollDown();
      input.focus();
    }
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 140)}px`;
  }

  for (const q of examples) {
    const b = el("button", "tc-example", q);
    b.type = "button";
    b.addEventListener("click", () => ask(q));
    $("tc-examples").appendChild(b);
  }
  input.maxLength = maxChars;
  input.addEventListener("input", autosize);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    ask(input.value);
  });
  $("tc-panel-close").addEventListener("click", () => {
    panel.hidden = true;
  });
  $("tc-reset").addEventListener("click", () => location.reload());
})();
