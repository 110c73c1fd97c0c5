"""One line per load failure, by the typed exception huggingface_hub raises (bare, as peft lets it
through, or wrapped in transformers' OSError `from` it), and by what a local folder lacks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tuco_eval.core.load_errors import friendly_load
from tuco_eval.util.errors import TucoError

RESPONSE = SimpleNamespace(headers={}, request=None)  # what the HTTP errors read off a response


def _http(kind):
    return kind("401 Client Error: the Hub's own long text", response=RESPONSE)


# (the exception the Hub library raises, the line a user reads)
CASES = [
    (_http(GatedRepoError), "the repository is gated: accept its licence on the Hub and run `hf auth login`"),
    (_http(RepositoryNotFoundError), "not a local folder and not found on the Hub (check the spelling or the path)"),
    (_http(RevisionNotFoundError), "no such revision on the Hub (a branch, tag or commit of the repository)"),
    (_http(RemoteEntryNotFoundError), "the repository has no such file (check gguf_file= and the revision)"),
    (EntryNotFoundError("no such file"), "the repository has no such file (check gguf_file= and the revision)"),
    (LocalEntryNotFoundError("not cached"), "no local folder of that name; not in the local Hub cache, and the "
                                            "Hub is unreachable (HF_HUB_OFFLINE is set or no network)"),
    (OfflineModeIsEnabled("offline"), "no local folder of that name; not in the local Hub cache, and the Hub "
                                      "is unreachable (HF_HUB_OFFLINE is set or no network)"),
]


def _raise(error, wrapped):
    def load():
        if not wrapped:
            raise error
        try:
            raise error
        except Exception as cause:  # as transformers' cached_files does
            raise OSError("org/model is not a local folder and is not a valid model identifier") from cause

    return load


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "transformers"])
@pytest.mark.parametrize(("error", "line"), CASES, ids=[type(e).__name__ for e, _ in CASES])
def test_each_hub_failure_is_one_line_naming_the_fix(error, line, wrapped):
    with pytest.raises(TucoError) as caught:
        friendly_load(_raise(error, wrapped), "org/model", "base model")
    assert str(caught.value) == f"cannot load the base model 'org/model': {line}"


def test_a_gated_repo_is_not_reported_as_missing():
    # GatedRepoError is a RepositoryNotFoundError: the more precise line wins
    with pytest.raises(TucoError, match="gated"):
        friendly_load(_raise(_http(GatedRepoError), True), "meta-llama/Llama-2-7b-hf", "base model")


def test_unreachable_hub_with_an_existing_folder_does_not_say_no_folder(tmp_path):
    with pytest.raises(TucoError) as caught:
        friendly_load(_raise(LocalEntryNotFoundError("x"), True), str(tmp_path), "fine-tuned model")
    assert "no local folder" not in str(caught.value) and "Hub is unreachable" in str(caught.value)


def test_a_local_folder_says_what_it_lacks(tmp_path):
    def load():
        raise OSError(f"{tmp_path} does not appear to have a file named pytorch_model.bin")

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TucoError, match="the folder has no model weights"):
        friendly_load(load, str(tmp_path), "base model")
    (tmp_path / "config.json").unlink()
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(TucoError, match="has weights but no config.json"):
        friendly_load(load, str(tmp_path), "base model")
    # a tokenizer's failure keeps its own line: the folder's weights are not the question
    with pytest.raises(TucoError, match="OSError: .* does not appear to have a file named"):
        friendly_load(load, str(tmp_path), "base tokenizer")


def test_anything_else_keeps_its_first_line_and_a_user_error_passes_through():
    def broken():
        raise ValueError("Unrecognized model in org/model.\nShould have a `model_type` key")

    with pytest.raises(TucoError, match=r"^cannot load the adapter 'org/model': ValueError: Unrecognized model in org/model\.$"):
        friendly_load(broken, "org/model", "adapter")

    def refused():
        raise TucoError("already one line")

    with pytest.raises(TucoError, match="^already one line$"):
        friendly_load(refused, "org/model", "adapter")
