"""``report.md`` and its PNG plots, written from ``summary.json`` and the answers.

The report is for a reader who did not run the evaluation: what was evaluated, how each
metric is defined, the configurations side by side, results per question type, latency,
and every failure with what the system retrieved or said.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from evals.score import DEFINITIONS

HEADLINE = (
    "hit@5",
    "mrr",
    "fact_recall",
    "citation_support",
    "sentence_support",
    "refusal_accuracy",
    "latency_p50_ms",
)
SIDE_BY_SIDE = (
    "hit@1",
    "hit@5",
    "recall@5",
    "mrr",
    "ndcg@10",
    "page_hit@5",
    "fact_recall",
    "facts_all",
    "citation_precision",
    "citation_verbatim",
    "citation_span_exact",
    "citation_support",
    "sentence_support",
    "answered_with_citation",
    "refusal_accuracy",
    "refusal_balanced_accuracy",
    "refusal_precision",
    "refusal_recall",
    "false_refusal_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "retrieve_p50_ms",
    "answer_p50_ms",
)
BY_TYPE = (
    "hit@5",
    "mrr",
    "fact_recall",
    "facts_all",
    "citation_support",
    "sentence_support",
    "refusal_accuracy",
    "latency_p50_ms",
)
PLOT_BY_TYPE = ("hit@5", "fact_recall", "sentence_support", "refusal_accuracy")
PLOT_CONFIGS = (
    "hit@5",
    "mrr",
    "ndcg@10",
    "fact_recall",
    "citation_support",
    "sentence_support",
    "refusal_accuracy",
)
MAX_ROWS = 60
TYPE_ORDER = ("factoid", "why", "paraphrase", "keyword", "multi-doc", "follow-up", "unanswerable")


def fmt(value, metric: str = "") -> str:
    """A metric value for a table cell.

    >>> fmt(0.91234), fmt(None), fmt(812.4, "latency_p50_ms")
    ('0.912', 'n/a', '812 ms')
    """
    if value is None:
        return "n/a"
    if metric.endswith("_ms"):
        return f"{value:.0f} ms"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def cell(text, limit: int = 160) -> str:
    """Text made safe for one Markdown table cell, shortened to ``limit`` characters.

    >>> cell("a | b\\nc"), cell("abcdef", 4)
    ('a \\\\| b c', 'abc…')
    """
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.replace("|", "\\|")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _types(records: list[dict]) -> list[str]:
    present = {r["type"] for r in records}
    return [t for t in TYPE_ORDER if t in present] + sorted(present - set(TYPE_ORDER))


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------


def _label_bars(ax, xs: list[float], vals: list[float | None]) -> None:
    """Print each bar's value above it, so that a zero (an invisible bar) or n/a shows."""
    for x, v in zip(xs, vals, strict=True):
        ax.text(
            x,
            (v or 0) + 0.01,
            "n/a" if v is None else f"{v:.2f}",
            ha="center",
            va="bottom",
            fontsize=5.5,
            rotation=90,
        )


def _plots(summary: dict, plot_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    configs = summary["configs"]
    main = configs[summary["main"]]
    files: dict[str, str] = {}

    # 1. Main configuration: key metrics per question type.
    types = _types(main["questions"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(PLOT_BY_TYPE)
    for i, metric in enumerate(PLOT_BY_TYPE):
        vals = [main["by_type"][t].get(metric) for t in types]
        xs = [j + (i - (len(PLOT_BY_TYPE) - 1) / 2) * width for j in range(len(types))]
        ax.bar(xs, [v or 0 for v in vals], width, label=metric)
        _label_bars(ax, xs, vals)
    counts = Counter(r["type"] for r in main["questions"])
    ax.set_xticks(range(len(types)), [f"{t}\n(n={counts[t]})" for t in types], fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("score (0-1)")
    ax.set_title(f"Configuration '{summary['main']}': metrics per question type")
    ax.legend(fontsize=8, ncol=len(PLOT_BY_TYPE), loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    fig.savefig(plot_dir / "metrics_by_type.png", dpi=110)
    plt.close(fig)
    files["by_type"] = "plots/metrics_by_type.png"

    # 2. Latency distribution per configuration.
    names = list(configs)
    data = [
        [r["latency_ms"] for r in configs[n]["questions"] if r.get("latency_ms") is not None]
        for n in names
    ]
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names) + 2), 4))
    if any(data):
        ax.boxplot([d or [0] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(names) + 1), names)
        for i, n in enumerate(names, start=1):
            p95 = configs[n]["overall"].get("latency_p95_ms")
            if p95 is not None:
                ax.plot([i - 0.3, i + 0.3], [p95, p95], color="red", lw=1)
        ax.plot([], [], color="red", lw=1, label="p95")
        ax.legend(fontsize=8)
    ax.set_ylabel("timings_ms.total per question (ms)")
    ax.set_title("Answer latency per configuration (box: quartiles, line: median)")
    fig.tight_layout()
    fig.savefig(plot_dir / "latency.png", dpi=110)
    plt.close(fig)
    files["latency"] = "plots/latency.png"

    # 3. Configurations side by side.
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        vals = [configs[n]["overall"].get(mt) for mt in PLOT_CONFIGS]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(PLOT_CONFIGS))]
        ax.bar(xs, [v or 0 for v in vals], width, label=n)
        _label_bars(ax, xs, vals)
    ax.set_xticks(range(len(PLOT_CONFIGS)), PLOT_CONFIGS, fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("score (0-1)")
    ax.set_title("Configurations side by side (all questions)")
    ax.legend(fontsize=8, ncol=len(names), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    fig.savefig(plot_dir / "configs.png", dpi=110)
    plt.close(fig)
    files["configs"] = "plots/configs.png"
    return files


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _overrides(cfg: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in cfg["overrides"].items()) or "(current settings)"


def _failures(
    name: str, cfg: dict, answers: dict[str, dict], questions: dict[str, dict]
) -> list[str]:
    recs = cfg["questions"]
    lines: list[str] = []

    def qtext(qid: str) -> str:
        return cell(questions[qid]["question"], 120)

    def answer_text(qid: str, limit: int = 220) -> str:
        return cell(answers.get(qid, {}).get("answer", "(no answer)"), limit)

    misses = [r for r in recs if r.get("hit@5") == 0.0]
    lines += ["", f"### Retrieval misses: no expected source in the top 5 ({len(misses)})", ""]
    if misses:
        rows = [
            [
                r["id"],
                r["type"],
                qtext(r["id"]),
                cell(", ".join(questions[r["id"]]["sources"]), 120),
                cell(", ".join(s or "?" for s in r["retrieved_top5"]) or "(nothing)", 260),
            ]
            for r in misses[:MAX_ROWS]
        ]
        lines += table(
            ["id", "type", "question", "expected sources", "retrieved (rank order)"], rows
        )
    else:
        lines.append("None.")

    partial = [r for r in recs if r.get("fact_recall") is not None and r["fact_recall"] < 1]
    lines += [
        "",
        f"### Answers missing facts: fact recall below 1 ({len(partial)})",
        "",
        "The missing facts are shown by their first alternative.",
        "",
    ]
    if partial:
        rows = [
            [
                r["id"],
                r["type"],
                fmt(r["fact_recall"]),
                cell("; ".join(r["missing_facts"]), 100),
                ("**refused** " if r["refused"] else "") + answer_text(r["id"]),
                "yes" if r.get("hit@5") else "no",
            ]
            for r in partial[:MAX_ROWS]
        ]
        lines += table(
            ["id", "type", "fact recall", "missing", "answer (start)", "expected source in top 5"],
            rows,
        )
    else:
        lines.append("None.")

    wrong_answer = [r for r in recs if not r["answerable"] and not r["refused"]]
    wrong_refusal = [r for r in recs if r["answerable"] and r["refused"]]
    lines += [
        "",
        f"### Refusal errors ({len(wrong_answer)} unanswerable answered, "
        f"{len(wrong_refusal)} answerable refused)",
        "",
    ]
    if wrong_answer or wrong_refusal:
        rows = [
            [r["id"], "answered an unanswerable question", qtext(r["id"]), answer_text(r["id"])]
            for r in wrong_answer
        ]
        rows += [
            [
                r["id"],
                f"refused ({r['type']})",
                qtext(r["id"]),
                "top retrieved: " + cell(", ".join(s or "?" for s in r["retrieved_top5"][:3]), 160),
            ]
            for r in wrong_refusal
        ]
        lines += table(["id", "error", "question", "what the system did"], rows[:MAX_ROWS])
    else:
        lines.append("None.")

    probs = [(r["id"], p) for r in recs for p in r.get("citation_problems", [])]
    lines += ["", f"### Citation problems ({len(probs)})", ""]
    if probs:
        rows = [
            [qid, str(p["n"]), cell(p.get("source") or "", 80), cell(p["problem"], 100)]
            for qid, p in probs[:MAX_ROWS]
        ]
        lines += table(["id", "marker", "cited source", "problem"], rows)
    else:
        lines.append("None.")
    if any(len(x) > MAX_ROWS for x in (misses, partial, probs)):
        lines += ["", f"(Tables are cut at {MAX_ROWS} rows; summary.json has every question.)"]
    return lines


def render(
    summary: dict, plots: dict[str, str], answers: dict[str, dict[str, dict]], questions: list[dict]
) -> str:
    """The Markdown text of the report."""
    configs = summary["configs"]
    names = list(configs)
    main_name = summary["main"]
    main = configs[main_name]
    qmap = {q["id"]: q for q in questions}
    counts = Counter(r["type"] for r in main["questions"])
    types = _types(main["questions"])
    L: list[str] = []
    L += [
        "# Evaluation report",
        "",
        f"- Generated {summary['generated']} from commit `{summary.get('git_commit')}`.",
        f"- Corpus: `{summary['corpus']}`; question set: `{summary['questions_file']}` with "
        f"{main['n_questions']} questions ({main['n_answerable']} answerable, "
        f"{main['n_unanswerable']} unanswerable): "
        + ", ".join(f"{t} {counts[t]}" for t in types)
        + ".",
        f"- Every question was answered by the production chain (`rag.chain.answer_question`; "
        f"follow-ups with their chat history) once per configuration; "
        f"{len(names)} configuration(s). Answers are in "
        + ", ".join(f"`{configs[n]['answers_file']}`" for n in names)
        + "; every number below is recomputed from those files by "
        "`python -m evals.score ANSWERS --questions Q --corpus DIR`.",
        "- Scores are 0-1, higher is better (except false_refusal_rate and latency); "
        "each metric is defined at the end of this report.",
    ]
    if main["missing_answers"]:
        L.append(f"- **{len(main['missing_answers'])} question(s) have no answer** and score 0.")
    gate = summary.get("gate")
    if gate:
        status = "**PASSED**" if gate["passed"] else "**FAILED**"
        L += ["", f"## Quality gate: {status}", ""]
        L += table(
            ["metric", f"value ({main_name})", "floor", ""],
            [
                [r["metric"], fmt(r["value"]), fmt(r["floor"]), "ok" if r["ok"] else "FAIL"]
                for r in gate["results"]
            ],
        )

    L += ["", "## Headline (configuration '" + main_name + "')", ""]
    L += table(list(HEADLINE), [[fmt(main["overall"].get(k), k) for k in HEADLINE]])
    if main["n_questions"]:
        never = main["n_answerable"] / main["n_questions"]
        L += [
            "",
            f"A system that never refused would score refusal_accuracy {never:.3f} on this "
            f"set; refusal_balanced_accuracy (here "
            f"{fmt(main['overall'].get('refusal_balanced_accuracy'))}) weighs answerable and "
            "unanswerable questions equally, so never or always refusing scores 0.5.",
        ]

    L += ["", "## Configurations", ""]
    rows, first_with = [], {}
    for n, c in configs.items():
        shared = first_with.setdefault(c["ingest"]["collection"], n)
        ingest = (
            [str(c["ingest"]["chunks_added"]), f"{c['ingest']['seconds']:.0f}"]
            if shared == n
            else [f"(index of {shared})", ""]
        )
        rows.append(
            [
                n,
                cell(_overrides(c)),
                str(c["settings"]["retrieval_mode"]),
                str(c["settings"]["chunk_tokens"]),
                str(c["settings"]["top_k"]),
                str(c["settings"]["answerer"]),
                f"`{c['ingest']['collection']}`",
                *ingest,
                f"{c['answer_seconds']:.0f}",
            ]
        )
    L += table(
        [
            "name",
            "changes",
            "retrieval",
            "chunk tokens",
            "top k",
            "answerer",
            "index collection",
            "chunks added",
            "ingest s",
            "answering s",
        ],
        rows,
    )
    foreign = max(c["ingest"].get("foreign_sources", 0) for c in configs.values())
    if foreign:
        L += [
            "",
            f"Warning: the index also held {foreign} file(s) from outside the corpus; "
            "they could be retrieved and cited.",
        ]
    L += ["", "An index that was already up to date shows 0 chunks added.", ""]
    L += [
        "## Configurations side by side",
        "",
        f"![configurations side by side]({plots['configs']})",
        "",
    ]
    L += table(
        ["metric", *names, "n (" + main_name + ")"],
        [
            [
                k,
                *(fmt(configs[n]["overall"].get(k), k) for n in names),
                str(main["overall_n"].get(k, "")),
            ]
            for k in SIDE_BY_SIDE
        ],
    )
    L += [
        "",
        "n is the number of questions a mean is taken over (citations for the "
        "citation_* rows other than sentence support).",
    ]

    L += [
        "",
        f"## By question type (configuration '{main_name}')",
        "",
        f"![metrics per question type]({plots['by_type']})",
        "",
    ]
    L += table(
        ["type", "n", *BY_TYPE],
        [[t, str(counts[t]), *(fmt(main["by_type"][t].get(k), k) for k in BY_TYPE)] for t in types],
    )
    if len(names) > 1:
        for metric in ("hit@5", "fact_recall"):
            L += ["", f"### {metric} per type and configuration", ""]
            L += table(
                ["type", *names],
                [
                    [t, *(fmt(configs[n]["by_type"].get(t, {}).get(metric)) for n in names)]
                    for t in types
                ],
            )

    L += ["", "## Latency", "", f"![latency per configuration]({plots['latency']})", ""]
    L += table(
        ["configuration", "p50 total", "p95 total", "p50 retrieve", "p50 answer"],
        [
            [
                n,
                *(
                    fmt(configs[n]["overall"].get(k), k)
                    for k in (
                        "latency_p50_ms",
                        "latency_p95_ms",
                        "retrieve_p50_ms",
                        "answer_p50_ms",
                    )
                ),
            ]
            for n in names
        ],
    )
    L += [
        "",
        "Timings are the chain's own `timings_ms`, measured on the machine that ran the "
        "evaluation after one unrecorded warm-up question per configuration.",
    ]

    judge = summary.get("llm_judge") or {}
    L += ["", "## LLM-judged faithfulness and relevance (separate from the metrics above)", ""]
    if judge.get("status") == "ok":
        L += [
            f"Rated by the configured LLM ({main['settings'].get('llm_model')}) on "
            f"{judge['n']} answered questions, 1-5 scaled to 0-1. A model's opinion, not a "
            "measurement; not reproduced by `evals.score`.",
            "",
        ]
        L += table(
            ["faithfulness", "relevance"],
            [[fmt(judge["overall"]["faithfulness"]), fmt(judge["overall"]["relevance"])]],
        )
    else:
        L.append(f"{judge.get('status', 'skipped').capitalize()}: {judge.get('reason', '')}.")

    L += ["", f"## Failures (configuration '{main_name}')"]
    L += _failures(main_name, main, answers.get(main_name, {}), qmap)

    if len(names) > 1:
        diff = []
        for r in main["questions"]:
            row = {n: next(x for x in configs[n]["questions"] if x["id"] == r["id"]) for n in names}
            hits = [row[n].get("hit@5") for n in names]
            facts = [row[n].get("fact_recall") for n in names]
            refused = [row[n]["refused"] for n in names]
            if len(set(hits)) > 1 or len(set(facts)) > 1 or len(set(refused)) > 1:
                diff.append(
                    [
                        r["id"],
                        r["type"],
                        *(
                            f"{fmt(row[n].get('hit@5'))} / {fmt(row[n].get('fact_recall'))}"
                            + (" R" if row[n]["refused"] else "")
                            for n in names
                        ),
                    ]
                )
        L += [
            "",
            f"## Where the configurations disagree ({len(diff)} questions)",
            "",
            "Each cell: hit@5 / fact recall, R = refused.",
            "",
        ]
        L += table(["id", "type", *names], diff[:MAX_ROWS]) if diff else ["None."]

    L += [
        "",
        "## How each metric is defined",
        "",
        "Retrieval metrics use the `retrieved` passages in rank order and the question's "
        "expected `sources` (a bare file name matches any path with that name); they are "
        "defined for answerable questions only. Fact and citation metrics read only the "
        "system's own answer text and citations, never the reference answers. Citation quotes "
        "are checked against the document text produced by the project's loader "
        "(`ingest.load.load`), whose offsets the citations use. Means skip questions where a "
        "metric is undefined.",
        "",
    ]
    L += table(["metric", "definition"], [[k, cell(v, 400)] for k, v in DEFINITIONS.items()])
    L.append("")
    return "\n".join(L)


def write_report(
    summary: dict, out: Path, rows: dict[str, list[dict]], questions: list[dict]
) -> Path:
    """Write ``out/report.md`` and ``out/plots/*.png``; returns the report's path."""
    plots = _plots(summary, out / "plots")
    answers = {name: {r["id"]: r for r in rs} for name, rs in rows.items()}
    path = out / "report.md"
    path.write_text(render(summary, plots, answers, questions), encoding="utf-8")
    return path
