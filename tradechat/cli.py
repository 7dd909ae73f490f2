"""The ``tradechat`` command: ingest, ask, serve, eval.

Examples::

    tradechat ingest docs_corpus ../shared/corpus
    tradechat ask "Why are Canada–Mexico relations at a low point?"
    tradechat serve --port 7860
    tradechat eval --corpus ../shared/corpus --questions evals/questions_shared_corpus.jsonl --out eval_out
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tradechat.errors import TradechatError

EPILOG = """settings come from TRADECHAT_* environment variables or a .env file
(see README.md); --index overrides TRADECHAT_INDEX_DIR."""


def _settings(args: argparse.Namespace):
    from tradechat.settings import Settings

    overrides = {}
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    if getattr(args, "chroma_url", None):
        overrides["chroma_url"] = args.chroma_url
    return Settings(**overrides)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        data = report.model_dump()
        data["totals"] = report.totals
        print(json.dumps(data, ensure_ascii=False))
        return
    for f in report.files:
        if f.status in ("failed", "skipped"):
            print(f"  {f.status:8} {f.source}: {f.reason}", file=sys.stderr)
        elif f.reason:  # e.g. decoded as cp1252
            print(f"  note     {f.source}: {f.reason}", file=sys.stderr)
    t = report.totals
    print(
        f"files: {t['new']} new, {t['changed']} changed, {t['unchanged']} unchanged, "
        f"{t['removed']} removed, {t['failed']} failed, {t['skipped']} skipped | "
        f"chunks: +{report.chunks_added} -{report.chunks_removed} "
        f"({report.embeddings_computed} embedded) | {report.seconds:.1f}s | "
        f"index: {report.index} [{report.collection}]"
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.pipeline import ingest_paths

    settings = _settings(args)
    report = ingest_paths(
        [Path(p) for p in args.paths], settings=settings, progress=None if not args.json else False
    )
    _print_report(report, args.json)
    t = report.totals
    indexed = t["new"] + t["changed"] + t["unchanged"]
    if args.strict and (t["failed"] or t["skipped"]):
        return 1
    if indexed == 0 and (t["failed"] or t["skipped"] or not report.files):
        if not args.json:
            print("error: nothing could be indexed", file=sys.stderr)
        return 1
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.chain import answer_question

    settings = _settings(args)
    result = answer_question(args.question, settings=settings)
    if args.json:
        print(json.dumps(result.model_dump(exclude={"standalone_question"}), ensure_ascii=False))
        return 0
    print(result.answer)
    if result.citations:
        print()
        for c in result.citations:
            where = ", ".join(x for x in (c.section, f"p. {c.page}" if c.page else None) if x)
            print(f"[{c.n}] {c.title} ({c.source}{', ' + where if where else ''})")
            print(f'    "{c.quote[:200]}"')
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import app

    settings = _settings(args)
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    app.serve(settings, ingest_corpus=not args.no_ingest)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.runner import run_from_args

    return run_from_args(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradechat",
        description="Chat with trade documents; every answer cited.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_index(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--index",
            metavar="DIR",
            help="index folder (default: $TRADECHAT_INDEX_DIR or ~/.local/share/tradechat/index)",
        )
        p.add_argument(
            "--chroma-url", metavar="URL", help="use a Chroma server instead of the embedded index"
        )

    p = sub.add_parser(
        "ingest",
        help="index documents (incremental, idempotent)",
        description="Index folders or files: .txt .md .html .pdf .docx. "
        "Unchanged files are skipped, changed ones re-indexed, deleted ones removed.",
        epilog=EPILOG,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folder or file to index")
    add_index(p)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file failed or was skipped")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "ask", help="answer a question from the index, with citations", epilog=EPILOG
    )
    p.add_argument("question")
    add_index(p)
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="start the web app (chat UI, HTTP API, /embed)", epilog=EPILOG)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    add_index(p)
    p.add_argument(
        "--no-ingest", action="store_true", help="do not index the bundled corpus at start-up"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="evaluate on a question set and write a report", epilog=EPILOG)
    p.add_argument("--corpus", required=True, help="folder of documents to evaluate on")
    p.add_argument("--questions", required=True, help="question set (JSONL)")
    add_index(p)
    p.add_argument("--out", required=True, help="folder for answers.jsonl, summary.json, report.md")
    p.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="NAME=SETTINGS",
        help="extra configurations, e.g. dense=retrieval_mode:dense "
        "small=chunk_tokens:128 (comma-separated key:value pairs)",
    )
    p.add_argument(
        "--gate",
        metavar="FILE",
        help="JSON of metric floors; exit 1 if the main configuration falls below",
    )
    p.add_argument(
        "--no-judge",
        action="store_true",
        help="skip the LLM-judged faithfulness/relevance even when an LLM answerer is configured",
    )
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TradechatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
