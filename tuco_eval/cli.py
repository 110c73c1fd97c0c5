"""tuco-eval: measure and control how much fine-tuning contributes to each response of a
language model, next to lm-eval (score TuCo, sweep α over lm-eval tasks, cross-validate α,
report and compare checkpoints)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tuco_eval.util.errors import TucoError

EXIT_USAGE = 2
# other spellings of options (lm-eval's --output_path); underscore spellings map to dashes
OLD_SPELLINGS = {"--out": "--output", "--output_path": "--output", "--output-path": "--output"}
LM_EVAL_HELP = (
    "lm-eval's own command line with the tuco_scaled model registered: every flag passes through "
    "(tuco-eval lm-eval --model tuco_scaled --model_args pretrained=FT,base=PT,alpha=1.1 --tasks T)"
)
ALIASES_NOTE = ("Other spellings work too: --out and lm-eval's --output_path for --output, underscores "
                "for dashes (--model_args).")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag or value on one line and exits 2, reads the other
    spellings of its options (`--out`, `--batch_size`) as the current ones, unlisted in --help,
    and takes no abbreviation (`--model` is not `--model-args`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        tokens = list(sys.argv[1:] if args is None else args)
        end = tokens.index("--") if "--" in tokens else len(tokens)  # after `--` all is positional
        tokens[:end] = [self._current_spelling(token) for token in tokens[:end]]
        if self._subparsers is None and any(t.partition("=")[0] == "--model" for t in tokens[:end]):
            self.error("--model is lm-eval's choice of model type; tuco-eval commands always run the "
                       "pair their --model-args name (tuco_scaled): drop --model")
        return super().parse_known_args(tokens, namespace)

    def _current_spelling(self, token: str) -> str:
        name, equals, value = token.partition("=")
        if not name.startswith("--") or name in self._option_string_actions:
            return token
        current = OLD_SPELLINGS.get(name, name.replace("_", "-"))
        return current + equals + value if current in self._option_string_actions else token


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default, or with `(required)`."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default == argparse.SUPPRESS or "(default: " in text:  # --help; or said already
            return text
        if not action.option_strings:
            return super()._get_help_string(action)
        if action.required:
            return f"{text} (required)"
        if isinstance(action, argparse.BooleanOptionalAction):  # --x / --no-x: say which holds
            return f"{text} (default: {'on' if action.default else 'off'})"
        if action.nargs == 0:  # a switch: the default is not giving it
            return f"{text} (default: off)"
        if action.default is None or action.default == []:
            return f"{text} (default: none)"
        return super()._get_help_string(action)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return _HelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    from tuco_eval.commands import load_commands

    parser = _Parser(prog="tuco-eval", description=__doc__, formatter_class=_formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in load_commands().items():
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=ALIASES_NOTE,
            formatter_class=_formatter,
        )
        module.add_arguments(p)
        p.set_defaults(run=module.run, check=getattr(module, "check", None))
    # listed for --help only: main() hands `lm-eval ...` to lm-eval's own parser before this one
    sub.add_parser("lm-eval", help=LM_EVAL_HELP, description=LM_EVAL_HELP, add_help=False)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tuco-eval")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        from tuco_eval import __version__

        return __version__


def check_args(args: argparse.Namespace) -> argparse.Namespace:
    """What the parser cannot say alone (a file one choice requires), checked before any work;
    raises TucoError."""
    if getattr(args, "verbosity", None):  # lm-eval's flag, on every command that runs a model
        import logging

        logging.getLogger("lm_eval").setLevel(args.verbosity)  # tuco-eval's own warnings stay on
    if getattr(args, "check", None) is not None:
        args.check(args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lm-eval"]:  # pass every flag through to lm-eval untouched
        return run_lm_eval(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(check_args(args)) or 0)
    except TucoError as err:
        print(f"tuco-eval {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def run_lm_eval(lm_eval_argv: list[str]) -> int:
    """`python -m tuco_eval lm-eval ...`: lm-eval's own CLI with `tuco_scaled` registered."""
    from lm_eval.__main__ import cli_evaluate

    import tuco_eval.harness.tuco_scaled  # noqa: F401  (registers tuco_scaled even without the .pth hook)

    sys.argv = ["lm_eval", *lm_eval_argv]
    try:
        cli_evaluate()
    except TucoError as err:
        print(f"tuco-eval lm-eval: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
