"""A finished sweep's α runs sent where lm-eval sends one run (`--wandb_args`, `--trackio_args`,
`--hf_hub_log_args`), read back from their lm-eval folders (store.alpha_runs):

- Weights & Biases and Trackio through lm-eval's own loggers, one tracker run per α named
  `<name> alpha=<α>` and grouped by the sweep, so each α looks as an `lm_eval` run does;
- the Hugging Face Hub as lm-eval's EvaluationTracker does it: results files to the results
  dataset, samples to the details dataset (`-private` unless public_repo=True), one commit per
  lm-eval folder, under the RUN_DIR's name (`<ROOT>/<checkpoint>` for a series).

The store and the α folders are written before anything is sent: a failed upload costs one line,
never a result, and running the same sweep again (every unit is already done) sends again.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tuco_eval.store.alpha_runs import FOLDER, alpha_run_folders, read_alpha_run
from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import format_alpha, parse_flag

HUB_KEYS = ("hub_results_org", "hub_repo_name", "details_repo_name", "results_repo_name",
            "push_results_to_hub", "push_samples_to_hub", "public_repo", "token")
INSTALL = {"wandb": "pip install wandb", "trackio": "pip install trackio"}


@dataclass(frozen=True)
class Publish:
    """Where a sweep's α runs go, checked before any model loads."""

    wandb_args: Mapping[str, str] = field(default_factory=dict)
    wandb_config_args: Mapping[str, str] = field(default_factory=dict)
    trackio_args: Mapping[str, str] = field(default_factory=dict)
    hub_args: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.wandb_args or self.trackio_args or self.hub_args)

    def check(self, log_samples: bool) -> None:
        """Refuse, in one line, what could only fail after the sweep: a missing package, an
        unknown Hub key, a Hub log that pushes nothing, samples pushed without --log_samples."""
        for name, args in (("wandb", self.wandb_args), ("trackio", self.trackio_args)):
            try:
                if args:
                    importlib.import_module(name)
            except ImportError:
                raise TucoError(f"--{name}_args needs {name}: {INSTALL[name]}") from None
        if self.wandb_config_args and not self.wandb_args:
            raise TucoError("--wandb_config_args goes with --wandb_args (the W&B run to configure)")
        if not self.hub_args:
            return
        unknown = sorted(set(self.hub_args) - set(HUB_KEYS))
        if unknown:
            raise TucoError(f"--hf_hub_log_args: unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(HUB_KEYS)}")
        results, samples = (self._flag(key) for key in ("push_results_to_hub", "push_samples_to_hub"))
        if not (results or samples):
            raise TucoError("--hf_hub_log_args pushes nothing: add push_results_to_hub=True "
                            "and/or push_samples_to_hub=True")
        if samples and not log_samples:
            raise TucoError("--hf_hub_log_args push_samples_to_hub=True needs --log_samples "
                            "(the α folders hold samples only then)")

    def _flag(self, key: str) -> bool:
        return parse_flag(self.hub_args.get(key, False), key)


def publish_alpha_runs(run_dirs: Sequence[str | Path], publish: Publish,
                       say: Callable[[str], None] = print) -> None:
    """Send every α folder under `run_dirs` (RUN_DIRs or series ROOTs) where `publish` says."""
    runs = [(Path(run_dir), alpha, folder) for run_dir in run_dirs
            for alpha, folder in alpha_run_folders(run_dir)]
    for run_dir, alpha, folder in runs:
        for name, send in (("wandb", _to_wandb), ("trackio", _to_trackio)):
            if getattr(publish, f"{name}_args"):
                _attempt(say, f"{name}: could not log {_run_name(run_dir, alpha, folder)}",
                         partial(send, publish, run_dir, alpha, folder))
    if publish.hub_args:
        for run_dir in dict.fromkeys(run_dir for run_dir, _, _ in runs):
            _attempt(say, f"hub: could not push {run_dir}", partial(_to_hub, publish, run_dir, say))


def _attempt(say: Callable[[str], None], failure: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as err:  # noqa: BLE001 - results are on disk; an upload that fails is one line
        say(f"{failure} ({type(err).__name__}: {err}); run the same sweep again to retry")


def _run_name(run_dir: Path, alpha: float, folder: Path) -> str:
    """`<RUN_DIR name>[/mode=<mode>] alpha=<α>`: the α folder's place in the sweep."""
    inside = folder.relative_to(run_dir).parts[: -3]  # [checkpoint/][mode=<m>/] before lm_eval/alpha=/<model>
    return " ".join(["/".join([run_dir.name, *[p for p in inside if p != FOLDER]]), f"alpha={format_alpha(alpha)}"])


def _tracker_args(args: Mapping[str, str], run_dir: Path, alpha: float, folder: Path) -> dict[str, Any]:
    name = _run_name(run_dir, alpha, folder)
    if "name" in args:
        name = f"{args['name']} alpha={format_alpha(alpha)}"
    return {**args, "name": name, "group": args.get("group", run_dir.name)}


def _to_wandb(publish: Publish, run_dir: Path, alpha: float, folder: Path) -> None:
    from lm_eval.loggers import WandbLogger

    config = {**publish.wandb_config_args, "alpha": alpha, "tuco_eval_run": str(folder)}
    logger = WandbLogger(_tracker_args(publish.wandb_args, run_dir, alpha, folder), config)
    _log_alpha_run(logger, folder, logger.run.finish)


def _to_trackio(publish: Publish, run_dir: Path, alpha: float, folder: Path) -> None:
    from lm_eval.loggers import TrackioLogger

    args = _tracker_args(publish.trackio_args, run_dir, alpha, folder)
    logger = TrackioLogger({**args, "config": {"alpha": alpha, "tuco_eval_run": str(folder)}})
    _log_alpha_run(logger, folder, logger.finish)


def _log_alpha_run(logger: Any, folder: Path, finish: Callable[[], None]) -> None:
    """What lm_eval does with its logger after a run, for one α folder; the tracker run finished
    whatever happens."""
    try:
        results, samples = read_alpha_run(folder)
        logger.post_init(results)
        logger.log_eval_result()
        if samples:
            logger.log_eval_samples(samples)
    finally:
        finish()


def _to_hub(publish: Publish, run_dir: Path, say: Callable[[str], None]) -> None:
    """lm-eval's repository names and privacy; the RUN_DIR's lm-eval folders in one commit per dataset."""
    from huggingface_hub import HfApi

    args = publish.hub_args
    api = HfApi(token=args.get("token") or os.environ.get("HF_TOKEN") or None)
    org = args.get("hub_results_org") or api.whoami()["name"]
    details = args.get("hub_repo_name") or args.get("details_repo_name") or "lm-eval-results"
    results = args.get("hub_repo_name") or args.get("results_repo_name") or details
    public = publish._flag("public_repo")
    pushed = []
    for wanted, what, repo, patterns in (("push_results_to_hub", "results", results, ["**/results_*.json"]),
                                         ("push_samples_to_hub", "samples", details, ["**/samples_*.jsonl"])):
        if not publish._flag(wanted):
            continue
        repo_id = f"{org}/{repo}" + ("" if public else "-private")
        api.create_repo(repo_id=repo_id, repo_type="dataset", private=not public, exist_ok=True)
        for lm_eval_dir in sorted({folder.parents[1] for _, folder in alpha_run_folders(run_dir)}):
            inside = lm_eval_dir.parent.relative_to(run_dir.parent).as_posix()
            api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(lm_eval_dir),
                              path_in_repo=inside, allow_patterns=patterns,
                              commit_message=f"tuco-eval: α runs of {inside}")
        pushed.append(f"{what} to datasets/{repo_id}")
    say(f"hub: {run_dir.name}'s α runs pushed, {' and '.join(pushed)}")
