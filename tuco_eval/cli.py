"""`tuco-eval` command line: argument parsing only; the work lives in the library modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tuco_eval.errors import TucoError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag or value on one line and exits 2."""

    def error(self, message: str):  # noqa: D401
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.ArgumentDefaultsHelpFormatter(prog, max_help_position=32)


# Each subcommand registers (add_arguments, run). run(args) returns an exit code.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] = {}


def command(name: str, help_text: str):
    def wrap(add_arguments: Callable[[argparse.ArgumentParser], None]):
        def bind(run: Callable[[argparse.Namespace], int]):
            COMMANDS[name] = (help_text, add_arguments, run)
            return run

        return bind

    return wrap


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tuco-eval", description=__doc__, formatter_class=_formatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_formatter)
        add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["lm-eval"]:  # pass every flag through to lm-eval untouched
        return run_lm_eval(argv[1:])
    import tuco_eval.commands  # noqa: F401  (registers the subcommands)

    args = build_parser().parse_args(argv)
    _, _, run = COMMANDS[args.command]
    try:
        return int(run(args) or 0)
    except TucoError as err:
        print(f"tuco-eval {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def run_lm_eval(lm_eval_argv: list[str]) -> int:
    """`python -m tuco_eval lm-eval ...`: lm-eval's own CLI with `tuco_scaled` registered."""
    import tuco_eval.lm  # noqa: F401  (registers tuco_scaled even without the .pth hook)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *lm_eval_argv]
    cli_evaluate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
