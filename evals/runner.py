"""The evaluation runner behind ``tradechat eval``.

Usage::

    tradechat eval --corpus ../shared/corpus --questions evals/questions_shared_corpus.jsonl \\
        --out eval_out/shared --compare dense=retrieval_mode:dense bm25=retrieval_mode:bm25 \\
        small=chunk_tokens:128 --gate evals/gate.json

For the main configuration (the current settings) and every ``--compare NAME=SETTINGS``
(comma-separated ``field:value`` overrides of ``Settings``) it ingests the corpus
(incrementally, into ``--index`` or ``OUT/index``), answers every question with the
production chain (``rag.chain.answer_question``, chat history for follow-ups), and writes
``answers.jsonl`` (``answers-NAME.jsonl`` per comparison), ``summary.json`` (every metric
overall and per question type, per configuration), and ``report.md`` with PNG plots.
With ``--gate FILE`` it exits 1 when the main configuration falls below a committed floor.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from evals.judge import judge_answers, make_judge
from evals.score import DEFINITIONS, load_questions, score_records
from tradechat.errors import ConfigError, TradechatError
from tradechat.settings import Settings

MAIN = "main"
WARMUP_QUESTION = "What is this collection of documents about?"
# Knobs recorded with each configuration (what a reader needs to reproduce it).
RECORDED_SETTINGS = (
    "embedding_model",
    "chunk_tokens",
    "retrieval_mode",
    "dense_k",
    "bm25_k",
    "rrf_k",
    "top_k",
    "mmr_lambda",
    "max_per_source",
    "answerer",
    "answer_sentences",
    "refusal_threshold",
    "llm_model",
)
# Settings that change what is indexed: one ingest per distinct combination.
INGEST_KEYS = ("embedding_model", "chunk_tokens", "index_dir", "chroma_url")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

AnswerFn = Callable[..., object]
Log = Callable[[str], None]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------------


def parse_compare(specs: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Parse ``NAME=key:value,key:value`` specs into ``(name, overrides)``.

    >>> parse_compare(["dense=retrieval_mode:dense", "small=chunk_tokens:128,top_k:8"])
    [('dense', {'retrieval_mode': 'dense'}), ('small', {'chunk_tokens': '128', 'top_k': '8'})]
    """
    out: list[tuple[str, dict[str, str]]] = []
    seen = {MAIN}
    for spec in specs:
        name, sep, body = spec.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise ConfigError(
                f"--compare {spec!r}: expected NAME=key:value[,key:value...] "
                "with NAME made of letters, digits, '-', '_' or '.'"
            )
        if name in seen:
            raise ConfigError(
                f"--compare {spec!r}: configuration name {name!r} is "
                f"{'reserved' if name == MAIN else 'used twice'}"
            )
        seen.add(name)
        overrides: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in body.split(","))):
            key, sep, value = pair.partition(":")
            if not sep or not key.strip():
                raise ConfigError(f"--compare {spec!r}: {pair!r} is not key:value")
            overrides[key.strip()] = value.strip()
        if not overrides:
            raise ConfigError(f"--compare {spec!r}: no settings to change")
        out.append((name, overrides))
    return out


def derive_settings(base: Settings, overrides: dict[str, str]) -> Settings:
    """``base`` with ``overrides`` applied and validated (strings coerced by pydantic)."""
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(
            f"--compare: unknown setting(s) {', '.join(unknown)}; valid: "
            f"{', '.join(sorted(Settings.model_fields))}"
        )
    data = {k: getattr(base, k) for k in Settings.model_fields}
    data.update(overrides)
    try:
        return Settings(**data)
    except Exception as exc:  # pydantic ValidationError: name the setting and the value
        raise ConfigError(f"--compare: invalid value in {overrides}: {exc}") from exc


def recorded_settings(settings: Settings) -> dict:
    return {k: getattr(settings, k) for k in RECORDED_SETTINGS}


# --------------------------------------------------------------------------------------------
# Ingest and answer
# --------------------------------------------------------------------------------------------


def ingest_corpus(corpus: Path, settings: Settings, log: Log = _log) -> dict:
    """Index ``corpus`` for ``settings`` (incremental); a short record for the summary."""
    from ingest.pipeline import ingest_paths

    log(
        f"ingesting {corpus} (chunk_tokens={settings.chunk_tokens}) into "
        f"{settings.chroma_url or settings.resolved_index_dir} ..."
    )
    report = ingest_paths([corpus], settings=settings)
    t = report.totals
    log(
        f"  {t['new']} new, {t['changed']} changed, {t['unchanged']} unchanged, "
        f"{t['failed']} failed, {t['skipped']} skipped; +{report.chunks_added} chunks; "
        f"{report.seconds:.1f}s [{report.collection}]"
    )
    failed = [f"{f.source}: {f.reason}" for f in report.files if f.status == "failed"]
    indexed = t["new"] + t["changed"] + t["unchanged"]
    if indexed == 0:
        raise ConfigError(
            f"nothing in {corpus} could be indexed" + (f" ({failed[0]})" if failed else "")
        )
    return {
        "collection": report.collection,
        "index": report.index,
        "files": indexed,
        "failed": failed,
        "skipped": t["skipped"],
        "chunks_added": report.chunks_added,
        "seconds": report.seconds,
        "foreign_sources": _foreign_sources(corpus, settings),
    }


def _foreign_sources(corpus: Path, settings: Settings) -> int:
    """How many indexed files come from outside the corpus (they can be retrieved too)."""
    try:
        from ingest.embed import get_encoder
        from ingest.store import open_store

        enc = get_encoder(settings.embedding_model, settings.embedding_batch_size)
        store = open_store(settings, enc.label, enc.max_tokens)
        root = str(corpus.resolve())
        return sum(1 for r in store.file_records().values() if r.root != root)
    except Exception:  # only a warning: never fail the evaluation on it
        return 0


def answer_questions(
    questions: list[dict],
    settings: Settings,
    out_file: Path,
    name: str,
    answer_fn: AnswerFn,
    log: Log = _log,
) -> list[dict]:
    """Answer every question with ``answer_fn``, writing answers.jsonl lines as they come.

    One unrecorded warm-up question first, so that loading models and building the
    lexical index are not counted as the first question's latency.
    """
    from rag.models import Turn

    answer_fn(WARMUP_QUESTION, settings=settings)
    rows: list[dict] = []
    started = time.perf_counter()
    with out_file.open("w", encoding="utf-8") as fh:
        for i, q in enumerate(questions, 1):
            history = [Turn(**t) for t in q["history"]] or None
            try:
                ans = answer_fn(q["question"], history=history, settings=settings)
            except TradechatError as exc:
                raise type(exc)(f"question {q['id']}: {exc}") from exc
            except Exception as exc:
                exc.add_note(f"while answering question {q['id']} ({name})")
                raise
            row = {"id": q["id"], **ans.model_dump(exclude={"standalone_question"})}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            rows.append(row)
            total = row.get("timings_ms", {}).get("total")
            log(
                f"[{name}] {i}/{len(questions)} {q['id']:<10} {q['type']:<12} "
                f"{'refused ' if row['refused'] else 'answered'} "
                f"{len(row['citations'])} cit  {total if total is not None else '?':>7} ms"
            )
    log(
        f"[{name}] {len(questions)} questions in {time.perf_counter() - started:.1f}s -> {out_file}"
    )
    return rows


# --------------------------------------------------------------------------------------------
# Gate
# --------------------------------------------------------------------------------------------


def check_gate(overall: dict, gate: dict) -> list[dict]:
    """One row per floor: ``{metric, value, floor, ok}``; a missing value fails.

    >>> check_gate({"hit@5": 0.9, "fact_recall": 0.5}, {"floors": {"hit@5": 0.8, "fact_recall": 0.6}})
    [{'metric': 'hit@5', 'value': 0.9, 'floor': 0.8, 'ok': True}, {'metric': 'fact_recall', 'value': 0.5, 'floor': 0.6, 'ok': False}]
    """
    rows = []
    for metric, floor in gate.get("floors", {}).items():
        value = overall.get(metric)
        rows.append(
            {
                "metric": metric,
                "value": value,
                "floor": floor,
                "ok": value is not None and value >= floor,
            }
        )
    return rows


def load_gate(path: str | Path) -> dict:
    try:
        gate = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--gate {path}: cannot read the floors ({exc})") from exc
    if not isinstance(gate.get("floors"), dict) or not gate["floors"]:
        raise ConfigError(f'--gate {path}: expected {{"floors": {{metric: minimum}}}}')
    unknown = sorted(set(gate["floors"]) - set(DEFINITIONS))
    if unknown:
        raise ConfigError(f"--gate {path}: unknown metric(s) {', '.join(unknown)}")
    return gate


# --------------------------------------------------------------------------------------------
# Whole run
# --------------------------------------------------------------------------------------------


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            text=True,
            capture_output=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            text=True,
            capture_output=True,
            timeout=10,
        ).stdout
        return (head + ("+dirty" if dirty.strip() else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def run(
    corpus: Path,
    questions_path: Path,
    out: Path,
    settings: Settings,
    compare: list[tuple[str, dict[str, str]]] | None = None,
    gate: dict | None = None,
    answer_fn: AnswerFn | None = None,
    reset_fn: Callable[[], None] | None = None,
    judge: bool = True,
    log: Log = _log,
) -> tuple[dict, int]:
    """Evaluate ``settings`` (and the ``compare`` variants); returns ``(summary, exit code)``.

    Args:
        settings: the main configuration; its ``index_dir`` is where the corpus is indexed.
        answer_fn, reset_fn: the chain (default ``rag.chain.answer_question`` and
            ``reset_cache``); tests pass a small fake.
        judge: run the LLM judge when an LLM answerer is configured.
    """
    if answer_fn is None or reset_fn is None:
        from rag.chain import answer_question, reset_cache

        answer_fn = answer_fn or answer_question
        reset_fn = reset_fn or reset_cache
    corpus = corpus.resolve()
    if not corpus.is_dir():
        raise ConfigError(f"--corpus {corpus}: not a folder")
    questions = load_questions(questions_path)
    out.mkdir(parents=True, exist_ok=True)
    log(f"{len(questions)} questions from {questions_path}; corpus {corpus}; output {out}")

    configs: list[tuple[str, dict[str, str], Settings]] = [(MAIN, {}, settings)]
    for name, overrides in compare or []:
        configs.append((name, overrides, derive_settings(settings, overrides)))

    summary: dict = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "corpus": str(corpus),
        "questions_file": str(questions_path),
        "main": MAIN,
        "definitions": DEFINITIONS,
        "configs": {},
    }
    ingested: dict[tuple, dict] = {}
    all_rows: dict[str, list[dict]] = {}
    for name, overrides, cfg in configs:
        key = tuple(str(getattr(cfg, k)) for k in INGEST_KEYS)
        if key not in ingested:
            ingested[key] = ingest_corpus(corpus, cfg, log)
            if ingested[key]["foreign_sources"]:
                log(
                    f"  warning: the index also holds {ingested[key]['foreign_sources']} "
                    "file(s) from outside the corpus; they can be retrieved and cited"
                )
        reset_fn()  # the chain may cache a lexical index or a store built before this ingest
        answers_file = out / ("answers.jsonl" if name == MAIN else f"answers-{name}.jsonl")
        started = time.perf_counter()
        rows = answer_questions(questions, cfg, answers_file, name, answer_fn, log)
        seconds = round(time.perf_counter() - started, 1)
        all_rows[name] = rows
        scores = score_records(questions, rows, corpus)
        summary["configs"][name] = {
            "overrides": overrides,
            "settings": recorded_settings(cfg),
            "answers_file": answers_file.name,
            "ingest": ingested[key],
            "answer_seconds": seconds,
            **scores,
        }
    reset_fn()

    main_cfg = configs[0][2]
    if judge and main_cfg.answerer != "extractive":
        log("LLM judge: rating faithfulness and relevance of the main configuration ...")
        summary["llm_judge"] = judge_answers(all_rows[MAIN], make_judge(main_cfg))
    else:
        summary["llm_judge"] = judge_answers(
            [],
            None,
            "the extractive answerer is configured (no LLM backend)"
            if judge
            else "disabled with --no-judge",
        )

    code = 0
    if gate is not None:
        rows = check_gate(summary["configs"][MAIN]["overall"], gate)
        summary["gate"] = {
            "floors": gate["floors"],
            "results": rows,
            "passed": all(r["ok"] for r in rows),
        }
        for r in rows:
            log(
                f"gate {'ok  ' if r['ok'] else 'FAIL'} {r['metric']}: {r['value']} "
                f"(floor {r['floor']})"
            )
        code = 0 if summary["gate"]["passed"] else 1

    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    from evals.report import write_report

    report = write_report(summary, out, all_rows, questions)
    log(f"wrote {out / 'summary.json'} and {report}")
    return summary, code


def run_from_args(args, settings: Settings) -> int:
    """Entry point of ``tradechat eval``: returns the exit code (1 when the gate fails)."""
    out = Path(args.out)
    if not getattr(args, "index", None) and not settings.chroma_url:
        # No --index: keep the evaluation's index with its results, never the user's.
        settings = derive_settings(settings, {"index_dir": str(out / "index")})
    gate = load_gate(args.gate) if getattr(args, "gate", None) else None
    compare = parse_compare(list(getattr(args, "compare", None) or []))
    _, code = run(
        Path(args.corpus),
        Path(args.questions),
        out,
        settings,
        compare,
        gate,
        judge=not getattr(args, "no_judge", False),
    )
    return code
