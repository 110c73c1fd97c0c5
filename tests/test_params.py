"""The values users type: one flag parser for every model_args flag, α and its grid."""

from __future__ import annotations

import pytest

from tuco_eval.util.errors import TucoError
from tuco_eval.util.params import PAPER_ALPHAS, format_alpha, parse_alphas, parse_flag


@pytest.mark.parametrize("word", ["true", "True", "1", "yes", "on", True])
def test_flag_words_for_true(word):
    assert parse_flag(word, "log_tuco") is True


@pytest.mark.parametrize("word", ["false", "False", "0", "no", "off", "none", "", False])
def test_flag_words_for_false(word):
    assert parse_flag(word, "log_kl") is False


def test_an_unknown_flag_word_is_refused_naming_the_flag():
    with pytest.raises(TucoError, match="log_tuco must be true or false, got 'maybe'"):
        parse_flag("maybe", "log_tuco")


@pytest.mark.parametrize("flag", ["log_tuco", "log_kl", "prefix_reuse"])
def test_every_flag_of_tuco_scaled_reads_no_as_false(pair_dirs, flag):
    # lm-eval hands model_args over as strings: `log_tuco=no` was once true (bool("no"))
    from tuco_eval.harness.tuco_scaled import TucoScaledLM

    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", **{flag: "no"})
    assert getattr(lm, flag) is False
    lm = TucoScaledLM(pretrained=pair_dirs[0], base=pair_dirs[1], device="cpu", **{flag: "yes"})
    assert getattr(lm, flag) is True


def test_the_paper_grid_and_its_spelling():
    assert parse_alphas("0.75,0.9,0.95,1,1.05,1.1,1.25") == list(PAPER_ALPHAS)
    assert [format_alpha(a) for a in (1, 0.9)] == ["1.0", "0.9"]
    with pytest.raises(TucoError, match="repeats 1.0"):
        parse_alphas("1,1.0")
