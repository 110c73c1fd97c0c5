"""Where each module of tuco_eval went when the package was laid out by layer (issue #21), and a
rewrite of code written against the old paths.

    python scripts/house_moves.py                       # the table, old -> new
    python scripts/house_moves.py --rewrite FILES...    # rewrite tuco_eval.<old> in FILES in place

The rewrite handles `from tuco_eval.<old> import a, b` (split by where each name went: a few
names moved to another module than the rest of theirs, SYMBOLS), `from tuco_eval import <old
module>` (the local name is kept), `import tuco_eval.<old> [as x]`, dotted names in strings and
prose (`"tuco_eval.sweep._evaluate_unit"`) and file paths (`tuco_eval/cv.py`). Names already at
their new place are left alone, so a second run changes nothing. `lm_eval.models` entry points
written `tuco_eval.lm:TucoScaledLM` stay (tuco_eval/lm.py re-exports it). Run `ruff check --fix`
on the files afterwards to sort the imports. A moved name reached through an imported module
(`cv.format_table` after `from tuco_eval import cv`) becomes `cv_tables.format_table` with
`from tuco_eval.render import cv_tables` added; a use the script cannot place (and a removed
name) is listed as FILE:LINE for a hand edit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# old module (under tuco_eval.) -> new module
MOVES = {
    # util: no torch; errors, the values users type, files, resume, checkpoint names
    "errors": "util.errors",
    "params": "util.params",
    "jsonl": "util.jsonl",
    "resume": "util.resume",
    "checkpoint_labels": "util.checkpoint_labels",
    # core: the joint pass and everything computed on a loaded pair
    "layers": "core.layers",
    "joint": "core.joint",
    "positions": "core.positions",
    "shared_cache": "core.shared_cache",
    "adapter_off": "core.adapter_off",
    "nonfinite": "core.nonfinite",
    "batching": "core.batching",
    "pair": "core.pair",
    "tuco": "core.tuco",
    "generation": "core.generation",
    "token_text": "core.token_text",
    "measures": "core.measures",
    "base_pass": "core.base_pass",
    "modes.scaling": "core.scaling",
    "modes.logits": "core.logit_mix",
    "modes.weights": "core.weight_mix",
    # harness: the lm-eval model type and the paper's task data
    "lm": "harness.tuco_scaled",
    "request_log": "harness.request_log",
    "prefix": "harness.prefix",
    "prefix_scoring": "harness.prefix_scoring",
    "data": "harness.task_data",
    "task_datasets": "harness.task_datasets",
    # sweeps: runs written through lm-eval
    "sweep": "sweeps.alphas",
    "modes.sweep": "sweeps.modes",
    "series": "sweeps.series",
    # store: what a sweep leaves on disk (no torch)
    "store": "store.units",
    "modes.store": "store.modes",
    "task_rows": "store.task_rows",
    "checkpoints": "store.checkpoints",
    # analysis: statistics over stores (no torch)
    "cv": "analysis.cv",
    "modes.cv": "analysis.modes",
    "paired": "analysis.paired",
    "flips": "analysis.flips",
    "leaderboard": "analysis.leaderboard",
    "checkpoint_rows": "analysis.checkpoint_rows",
    "checkpoint_board": "analysis.checkpoint_board",
    # render: tables, figures, pages (no torch)
    "tables": "render.tables",
    "plots": "render.plots",
    "html_page": "render.html_page",
    "html_report": "render.html_report",
    "html_pairs": "render.html_pairs",
    "token_page": "render.token_page",
    "report": "render.report",
    "modes.report": "render.modes",
    # modules made from analysis modules' tables just before the move (so analysis imports no render)
    "cv_tables": "render.cv_tables",
    "report_tables": "render.report_tables",
}

# names that left the module MOVES sends the rest of theirs to: old "module.name" -> (new module, name)
SYMBOLS: dict[str, tuple[str, str]] = {
    # the tables left the analysis modules: they are rendering
    **{f"cv.{n}": ("render.cv_tables", n) for n in ("task_table", "group_table", "metric_description", "format_table")},
    **{f"leaderboard.{n}": ("render.report_tables", n) for n in ("leaderboard", "leaderboard_csv", "explanation")},
    **{f"report.{n}": ("render.report_tables", n) for n in ("write_tables", "comparison")},
    "checkpoint_board.CSV_HEADERS": ("render.report_tables", "PAIRS_CSV_HEADERS"),
    "checkpoint_board.pairs_csv": ("render.report_tables", "pairs_csv"),
    "checkpoint_board.write_board": ("render.report_tables", "write_board"),
    "flips.CSV_HEADERS": ("render.report_tables", "FLIPS_CSV_HEADERS"),
    "flips.csv_text": ("render.report_tables", "flips_csv"),
    # the atomic writers and file names in one module; the warning line beside TucoError
    **{f"jsonl.{n}": ("util.files", n) for n in ("atomic_write_bytes", "atomic_write_text", "file_slug", "file_stems", "ensure_writable_dir", "disk_errors")},
    "store.atomic_write_json": ("util.files", "atomic_write_json"),
    "pair.warn": ("util.errors", "warn"),
    # the store in three: units (samples, manifests, locks, score matrices), run.json, doc texts
    **{f"store.{n}": ("store.run_json", n) for n in ("RUN_INFO", "merge_run_info", "read_run_info", "update_run_info")},
    **{f"store.{n}": ("store.doc_texts", n) for n in ("DOCS", "docs_path", "write_docs", "read_docs")},
    # cv split: statistics stay in analysis.cv; a RUN_DIR's cv.json in run_cv; groups apart
    **{f"cv.{n}": ("analysis.run_cv", n) for n in ("CV_FORMAT", "CV_FILE", "CV_SETTINGS", "run_rows", "cross_validate", "load_cached", "row_metric", "shared_metric")},
    **{f"cv.{n}": ("analysis.group_figures", n) for n in ("MEAN_LABEL", "WEIGHTED_LABEL", "aggregate_groups")},
    "checkpoint_board.most_chosen": ("analysis.cv", "most_chosen"),
    "checkpoint_board.group_delta_ci": ("analysis.intervals", "group_interval"),
    "checkpoint_board.LEVEL": ("analysis.intervals", "LEVEL"),
    # one pair loader: a side's source and its loading in core.sources, load failures in load_errors
    "pair.friendly_load": ("core.load_errors", "friendly_load"),
    **{f"pair.{n}": ("core.sources", n) for n in ("is_adapter_folder", "adapter_base_name", "check_adapter_base", "load_config", "load_tokenizer")},
    "request_log.prompt_tokens": ("harness.request_log", "context_rows"),
    **{f"modes.cv.{n}": ("render.modes", n) for n in ("modes_table", "format_modes_table")},
    # duplicates folded into the one kept
    "modes.cv.shared_mode_metric": ("analysis.run_cv", "shared_metric"),
    "experiments.prompts.sources.PERSONA_HUB": ("harness.task_data", "PERSONA_HUB"),
    "task_datasets.PERSONA_HUB": ("harness.task_data", "PERSONA_HUB"),
}

# names deleted without a replacement (dead code): the rewrite lists their uses
REMOVED = {  # old name -> (a pattern of its uses, why)
    "leaderboard.CV_SETTINGS": (
        r"leaderboard\.CV_SETTINGS|leaderboard import [^\n]*\bCV_SETTINGS",
        "removed: dead, and drifted from cv.CV_SETTINGS (the one used)",
    ),
    "joint.Joint.caches": (r"\.caches\(\)", "removed: unused"),
    "pair.validate_pair": (r"\bvalidate_pair\(", "removed: plan_pair(ModelSource, ModelSource) checks a pair before its weights"),
    "html_page.Raw/Num/esc/table/svg_figure/text_block/relative_link/page": (
        r"html_page import [^\n]*\b(Raw|Num|esc|table|svg_figure|text_block|relative_link|page)\b|html_page\.(Raw|Num|esc|table|svg_figure|text_block|relative_link|page)\b",
        "removed: pages are jinja2 templates (render/templates, macros.html.j2); cells are "
        "html_page.Table/Annotated/Tag/TextBlock/PairCell, files html_page.relative_name",
    ),
    "html_report.Lead.html": (r"Lead\([^)]*\)", "Lead.html is markupsafe.Markup rendered by a template now"),
    # a name that stayed but takes other arguments now
    "request_log.log_measures": (
        r"\blog_measures\(\w+, \w+\)",
        "now log_measures(lm, requests, rows): the tokens each request conditions on",
    ),
}

# public names that stay valid at their old place: not rewritten
KEEP = ("tuco_eval.lm:",)

PACKAGE = "tuco_eval"
OLD = {f"{PACKAGE}.{old}": f"{PACKAGE}.{new}" for old, new in MOVES.items()}
NEW = {*OLD.values(), *(f"{PACKAGE}.{module}" for module, _ in SYMBOLS.values())}
NEW |= {name.rsplit(".", 1)[0] for name in NEW}
NEW_TO_OLD = {new: old for old, new in OLD.items()}


def resolve(dotted: str) -> str:
    """The new spelling of a dotted name (module, or module.attribute...); unchanged if not moved.
    A name that left its module (SYMBOLS) is followed from its old module or from the new one."""
    parts = dotted.split(".")
    prefixes = [".".join(parts[:k]) for k in range(len(parts), 1, -1)]
    old = next((p for p in prefixes if p in OLD), None)
    new = next((p for p in prefixes if p in NEW), None)
    if new is not None and (old is None or len(new) > len(old)):
        old = NEW_TO_OLD.get(new)  # already at the new module: only a moved name changes
        rest = dotted[len(new) + 1 :].split(".") if dotted != new else []
        moved = SYMBOLS.get(f"{old.removeprefix(f'{PACKAGE}.')}.{rest[0]}") if old and rest else None
        return ".".join([f"{PACKAGE}.{moved[0]}", moved[1], *rest[1:]]) if moved else dotted
    if old is None:  # a module that did not move: only a name that left it changes
        for k in range(2, len(parts)):
            moved = SYMBOLS.get(".".join(parts[1 : k + 1]))
            if parts[0] == PACKAGE and moved:
                return ".".join([f"{PACKAGE}.{moved[0]}", moved[1], *parts[k + 1 :]])
        return dotted
    rest = dotted[len(old) + 1 :].split(".") if dotted != old else []
    if rest:
        moved = SYMBOLS.get(f"{old.removeprefix(f'{PACKAGE}.')}.{rest[0]}")
        if moved:
            return ".".join([f"{PACKAGE}.{moved[0]}", moved[1], *rest[1:]])
    return ".".join([OLD[old], *rest])


def _names(text: str) -> list[tuple[str, str | None]]:
    names = []
    for item in text.replace("(", " ").replace(")", " ").split(","):
        item = re.sub(r"#.*", "", item).strip()
        if item:
            name, _, alias = item.partition(" as ")
            names.append((name.strip(), alias.strip() or None))
    return names


def _import_line(indent: str, module: str, names: list[str]) -> str:
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= 100:
        return line
    inner = "".join(f"{indent}    {n},\n" for n in names)
    return f"{indent}from {module} import (\n{inner}{indent})"


FROM_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from (?P<module>tuco_eval(?:\.\w+)*) import "
    r"(?P<names>\([^)]*\)|[^\n]*?)(?P<comment>[ \t]*#[^\n]*)?$",
    re.M,
)


def _rewrite_from(match: re.Match) -> str:
    indent, module = match["indent"], match["module"]
    comment = match["comment"] or ""
    groups: dict[str, list[str]] = {}
    for name, alias in _names(match["names"]):
        if module == PACKAGE and f"{PACKAGE}.{name}" in OLD:  # from tuco_eval import cv
            target = OLD[f"{PACKAGE}.{name}"]
            parent, leaf = target.rsplit(".", 1)
            local = alias or name
            groups.setdefault(parent, []).append(leaf if leaf == local else f"{leaf} as {local}")
            continue
        full = resolve(f"{module}.{name}")
        new_module, new_name = full.rsplit(".", 1)
        if module == PACKAGE and full == f"{module}.{name}":
            new_module, new_name = module, name
        local = alias or name
        groups.setdefault(new_module, []).append(new_name if new_name == local else f"{new_name} as {local}")
    lines = [_import_line(indent, m, names) for m, names in groups.items()]
    if comment and lines:
        lines[0] += comment
    return "\n".join(lines)


DOTTED = re.compile(r"(?<![\w.])tuco_eval(?:\.\w+)+")
PATH = re.compile(r"(?<![\w/])tuco_eval/(?:\w+/)*\w+\.py\b")


def _rewrite_path(match: re.Match) -> str:
    dotted = match[0].removesuffix(".py").replace("/", ".")
    new = resolve(dotted)
    return match[0] if new == dotted else new.replace(".", "/") + ".py"


def _rewrite_dotted(match: re.Match) -> str:
    if any(match.string.startswith(keep, match.start()) for keep in KEEP):
        return match[0]
    return resolve(match[0])


IMPORT = re.compile(r"^(?P<indent>[ \t]*)import (?P<module>tuco_eval(?:\.\w+)+)", re.M)


def _module_key(dotted: str) -> str | None:
    """The old module key (`store`, `modes.cv`) of a module path, old or new; else None."""
    if dotted in OLD:
        return dotted.removeprefix(f"{PACKAGE}.")
    old = NEW_TO_OLD.get(dotted)
    return old.removeprefix(f"{PACKAGE}.") if old else None


ALIASED = re.compile(r"^(?P<indent>[ \t]*)import (?P<module>tuco_eval(?:\.\w+)+) as (?P<alias>\w+)", re.M)


def _module_aliases(text: str) -> list[tuple[str, str, int, str]]:
    """(local name, old module key, end of its import statement, indent) of every module of
    tuco_eval imported under a local name (`from tuco_eval import cv`, `import ... as lm`)."""
    found = []
    for m in FROM_IMPORT.finditer(text):
        for name, alias in _names(m["names"]):
            key = _module_key(f"{m['module']}.{name}")
            if key:
                found.append((alias or name, key, m.end(), m["indent"]))
    for m in ALIASED.finditer(text):
        key = _module_key(m["module"])
        if key:
            found.append((m["alias"], key, m.end(), m["indent"]))
    return found


def _import_block(text: str, start: int, indent: str) -> list[str]:
    """The import lines around `start` at this indent (the block an import is added to)."""
    lines = text.splitlines()
    at = text.count("\n", 0, start)
    is_import = re.compile(rf"{re.escape(indent)}(from|import) tuco_eval")
    first, last = at, at
    while first > 0 and is_import.match(lines[first - 1]):
        first -= 1
    while last + 1 < len(lines) and is_import.match(lines[last + 1]):
        last += 1
    return lines[first : last + 1]


def rewrite_attributes(text: str) -> str:
    """`cv.format_table` -> `cv_tables.format_table` where `cv` is an imported module whose name
    moved (SYMBOLS), with the import of the new module added after the alias's import."""
    inserts: dict[int, list[str]] = {}
    renames: dict[str, str] = {}  # pattern -> replacement, applied once the imports are in
    for local, key, end, indent in _module_aliases(text):
        for old, (module, name) in SYMBOLS.items():
            old_module, _, attribute = old.rpartition(".")
            pattern = rf"(?<![\w.]){re.escape(local)}\.{attribute}\b"
            if old_module != key or not re.search(pattern, text):
                continue
            parent, _, leaf = f"{PACKAGE}.{module}".rpartition(".")
            renames[pattern] = f"{leaf}.{name}"
            line = f"{indent}from {parent} import {leaf}"
            if line not in _import_block(text, end, indent) + inserts.get(end, []):
                inserts.setdefault(end, []).append(line)
    for end in sorted(inserts, reverse=True):
        text = text[:end] + "".join(f"\n{line}" for line in inserts[end]) + text[end:]
    for pattern, replacement in renames.items():
        text = re.sub(pattern, replacement, text)
    return text


def rewrite(text: str) -> str:
    """`text` with every old tuco_eval module path replaced by its new one."""
    text = rewrite_attributes(text)
    done: list[str] = []  # rewritten import statements, kept out of the dotted-name pass

    def keep(new: str) -> str:
        done.append(new)
        return f"\x00{len(done) - 1}\x00"

    text = FROM_IMPORT.sub(lambda m: keep(_rewrite_from(m)), text)
    text = IMPORT.sub(lambda m: keep(f"{m['indent']}import {resolve(m['module'])}"), text)
    text = PATH.sub(_rewrite_path, text)
    text = DOTTED.sub(_rewrite_dotted, text)
    return re.sub("\x00(\\d+)\x00", lambda m: done[int(m[1])], text)


def attribute_uses(text: str) -> list[tuple[int, str, str]]:
    """(line, `alias.name`, new place) where a moved name is reached through a module alias
    (`cv.format_table`): the rewrite cannot know the alias, so these are edited by hand."""
    found = []
    for old, (module, name) in SYMBOLS.items():
        leaf, attribute = old.rsplit(".", 1)
        pattern = re.compile(rf"(?<![\w.]){re.escape(leaf.rsplit('.', 1)[-1])}\.{attribute}\b")
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                found.append((number, f"{leaf.rsplit('.', 1)[-1]}.{attribute}", f"now {PACKAGE}.{module}.{name}"))
    for old, (pattern, why) in REMOVED.items():
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(pattern, line):
                found.append((number, old, why))
    return sorted(found)


def main(argv: list[str]) -> int:
    if argv[:1] != ["--rewrite"]:
        width = max(len(k) for k in OLD)
        for old, new in OLD.items():
            print(f"{old:<{width}}  ->  {new}")
        for old, (module, name) in SYMBOLS.items():
            print(f"{PACKAGE}.{old:<{width - len(PACKAGE) - 1}}  ->  {PACKAGE}.{module}.{name}")
        for old, (_, why) in REMOVED.items():
            print(f"{PACKAGE}.{old:<{width - len(PACKAGE) - 1}}  ->  {why}")
        return 0
    for name in argv[1:]:
        path = Path(name)
        before = path.read_text()
        after = rewrite(before)
        if after != before:
            path.write_text(after)
            print(f"rewrote {path}")
        for number, used, new in attribute_uses(after):
            print(f"{path}:{number}: {used}: {new}: edit by hand")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
