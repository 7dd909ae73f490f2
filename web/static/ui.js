() => {
  // Clicks inside rendered HTML (citation markers in answers, delete buttons in the
  // document list) are passed to Python through a hidden textbox and button: the HTML
  // itself carries no script, and the server re-checks everything it is sent.
  const bridge = (payload) => {
    const box = document.querySelector("#tc-bridge textarea, #tc-bridge input");
    const go = document.querySelector("#tc-bridge-go");
    if (!box || !go) return;
    box.value = JSON.stringify({ ...payload, t: Date.now() });
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => go.click(), 30);
  };
  document.addEventListener(
    "click",
    (ev) => {
      const target = ev.target instanceof Element ? ev.target : null;
      if (!target) return;
      const cite = target.closest("a.tc-cite");
      if (cite) {
        const m = /#tc-cite-(\d+)-(\d+)$/.exec(cite.getAttribute("href") || "");
        if (!m) return;
        ev.preventDefault();
        ev.stopPropagation();
        document.querySelectorAll("a.tc-cite.tc-active").forEach((a) => a.classList.remove("tc-active"));
        document.querySelectorAll(`a.tc-cite[href="#tc-cite-${m[1]}-${m[2]}"]`).forEach((a) => a.classList.add("tc-active"));
        bridge({ action: "cite", turn: Number(m[1]), n: Number(m[2]) });
        return;
      }
      const del = target.closest("button.tc-del");
      if (del) {
        ev.preventDefault();
        const source = del.value;
        if (window.confirm(`Remove “${source}” from the index?`)) bridge({ action: "delete", source });
      }
    },
    true,
  );
  // Bring the highlighted quote into view whenever the source panel is filled.
  const watch = () => {
    const panel = document.querySelector("#tc-source-panel");
    if (!panel) return setTimeout(watch, 300);
    new MutationObserver(() => {
      const mark = panel.querySelector(".tc-source-text mark");
      const box = panel.querySelector(".tc-source-text");
      if (mark && box) box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - box.clientHeight / 3);
    }).observe(panel, { childList: true, subtree: true });
  };
  watch();
}
