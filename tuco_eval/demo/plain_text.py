"""Plain English prose that ships with every Python: the opening paragraphs of stdlib docstrings.

The demo's stand-in for web text (no download): TuCo on it is compared with TuCo on task prompts.
"""

from __future__ import annotations

import importlib

MODULES = (
    "argparse",
    "asyncio",
    "base64",
    "bisect",
    "calendar",
    "cmd",
    "codecs",
    "collections",
    "colorsys",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "dis",
    "doctest",
    "email",
    "enum",
    "filecmp",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "getopt",
    "gettext",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "imaplib",
    "inspect",
    "ipaddress",
    "json",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mimetypes",
    "numbers",
    "operator",
    "optparse",
    "pathlib",
    "pickle",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "pprint",
    "pydoc",
    "queue",
    "quopri",
    "random",
    "re",
    "reprlib",
    "sched",
    "secrets",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "smtplib",
    "socket",
    "socketserver",
    "sqlite3",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "timeit",
    "tokenize",
    "trace",
    "traceback",
    "types",
    "typing",
    "unittest",
    "urllib",
    "uuid",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "xml",
    "zipfile",
    "zipimport",
)


def _first_paragraph(doc: str, max_words: int) -> str:
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n")]
    text = next((p for p in paragraphs if len(p) >= 80), " ".join(paragraphs))
    return " ".join(text.split()[:max_words])


def plain_text_prompts(n: int, max_words: int = 60) -> list[str]:
    """Up to `n` prose passages, in the fixed order of MODULES (deterministic, offline)."""
    passages = []
    for name in MODULES:
        doc = importlib.import_module(name).__doc__ or ""
        text = _first_paragraph(doc, max_words)
        if len(text) >= 80:
            passages.append(text)
        if len(passages) == n:
            break
    return passages
