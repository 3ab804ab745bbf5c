"""``frugal kb``: ingest documents into a configured knowledge base, delete some, list them.

``frugal kb ingest NAME [PATH...]`` reads md, txt, html, pdf, jsonl and csv files (default:
the paths the knowledge base names), chunks and embeds them with the gateway's embedder, and
stores them where the server reads them (Redis when ``REDIS_URL`` is set, else the knowledge
base's ``store`` directory). Only changed chunks are embedded again. ``--notify URL`` then
asks a running gateway to reload it and drop the cached answers built on changed documents.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import aiohttp
import anyio

from agent.agents import bundled_support
from agent.agents.spec import KnowledgeBaseSpec
from agent.kb import DocumentError, FileKbStore, KbStore, TTLKbStore, delete_documents, ingest
from agent.kb.ingest import IngestReport
from cache.redis_store import RedisTTLStore, create_redis_client
from server.composition import open_embedder
from server.config import ConfigError, load_settings
from server.settings import Settings


def add_kb_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``frugal kb ingest|delete|list``."""
    kb = commands.add_parser("kb", help="ingest documents into a knowledge base, or delete them")
    actions = kb.add_subparsers(dest="kb_command", required=True)
    ingest_cmd = actions.add_parser("ingest", help="make NAME hold the documents under PATHs")
    ingest_cmd.add_argument("name")
    ingest_cmd.add_argument("paths", nargs="*", type=Path)
    delete_cmd = actions.add_parser("delete", help="remove documents (ids as `kb list` shows)")
    delete_cmd.add_argument("name")
    delete_cmd.add_argument("doc_ids", nargs="+")
    list_cmd = actions.add_parser("list", help="list the documents of NAME")
    list_cmd.add_argument("name")
    for command in (ingest_cmd, delete_cmd):
        command.add_argument(
            "--notify", metavar="URL", help="a running gateway to reload (uses the admin key)"
        )
    kb.set_defaults(handler=run_kb)


def run_kb(args: argparse.Namespace) -> int:
    """Entry point of ``frugal kb``; returns the exit status."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"frugal kb: {exc}", file=sys.stderr)
        return 2
    config = settings.agents if settings.agents.definitions else bundled_support()
    spec = next((k for k in config.knowledge_bases if k.name == args.name), None)
    if spec is None or spec.kind != "documents":
        names = [k.name for k in config.knowledge_bases if k.kind == "documents"]
        print(
            f"frugal kb: no documents knowledge base {args.name!r} (have {names})", file=sys.stderr
        )
        return 2
    try:
        return anyio.run(_run, args, settings, spec)
    except (DocumentError, OSError) as exc:
        print(f"frugal kb: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, settings: Settings, spec: KnowledgeBaseSpec) -> int:
    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:
        store = _store(settings, spec, stack)
        if args.kb_command == "list":
            snapshot = await store.load()
            for doc_id in dict.fromkeys(c.doc_id for c in (snapshot.chunks if snapshot else [])):
                print(doc_id)
            return 0
        if args.kb_command == "delete":
            report = await delete_documents(store, args.doc_ids)
        else:
            embedder, _, _ = await open_embedder(settings, session, stack)
            paths = list(args.paths) or [Path(p) for p in spec.paths]
            if not paths:
                print("frugal kb: give PATHs (the knowledge base names none)", file=sys.stderr)
                return 2
            _, report = await ingest(
                store,
                paths,
                embedder=embedder,
                size=spec.chunk_tokens,
                overlap=spec.overlap_tokens,
            )
        _print(spec.name, report)
        if args.notify:
            return await _notify(session, args.notify, spec.name, settings.server.admin_key)
    return 0


def _store(
    settings: Settings, spec: KnowledgeBaseSpec, stack: contextlib.AsyncExitStack
) -> KbStore:
    if settings.redis.url is None:
        return FileKbStore(Path(spec.store or Path(".frugal") / "kb" / spec.name))
    client = create_redis_client(settings.redis.url, pool_size=2, timeout_s=5.0)
    redis_store = RedisTTLStore(client, namespace=settings.redis.key_prefix, op_timeout_s=5.0)
    stack.push_async_callback(redis_store.aclose)
    return TTLKbStore(redis_store, spec.name)


def _print(name: str, report: IngestReport) -> None:
    print(
        f"{name}: {report.chunks} chunks ({report.embedded} embedded); "
        f"added {len(report.added)}, changed {len(report.changed)}, "
        f"removed {len(report.removed)}, unchanged {report.unchanged} documents"
    )
    for label, docs in (("+", report.added), ("~", report.changed), ("-", report.removed)):
        for doc in docs:
            print(f"  {label} {doc}")


async def _notify(session: aiohttp.ClientSession, url: str, name: str, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    target = f"{url.rstrip('/')}/admin/kb/{name}/reload"
    async with session.post(target, headers=headers) as response:
        body = await response.text()
    print(f"{target}: {response.status} {body}")
    return 0 if response.status == 200 else 1
