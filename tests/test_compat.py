"""The transformers APIs that moved (tuco_eval.core.compat), checked against the model's own full pass.

Run at the newest versions and at the floors (`.ci/run`'s floor lane): what compat finds must be
what the installed transformers does, or a cached pass would silently score the wrong tokens.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers.tiny_models import VOCAB, make_model
from tuco_eval.core.compat import cache_keyword, cache_of, takes_logits_per_row
from tuco_eval.util.errors import TucoError

ARCHS = ["llama", "gpt2", "gemma2"]  # rotary, learned positions, sliding windows


@pytest.mark.parametrize("arch", ARCHS)
@torch.no_grad()
def test_the_cache_found_continues_the_prefix_as_one_pass_would(arch):
    model = make_model(arch).eval()
    ids = torch.randint(0, VOCAB, (1, 14), generator=torch.Generator().manual_seed(0))
    whole = model(ids, use_cache=False).logits[:, 9:]
    cache = cache_of(model(ids[:, :9], use_cache=True))
    continued = model(ids[:, 9:], use_cache=True, **{cache_keyword(model): cache}).logits
    torch.testing.assert_close(continued, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
@torch.no_grad()
def test_per_row_logits_to_keep_is_found_where_the_model_does_it(arch):
    model = make_model(arch).eval()
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(1))
    positions = torch.tensor([[2, 5], [4, 7]])  # each row its own
    full = model(ids, use_cache=False).logits
    expected = full.gather(1, positions[:, :, None].expand(-1, -1, full.shape[-1]))
    kept = model(ids, use_cache=False, logits_to_keep=positions).logits
    does_it = kept.shape == expected.shape and torch.allclose(kept, expected, rtol=1e-5, atol=1e-5)
    assert takes_logits_per_row(model) == does_it


@torch.no_grad()
def test_an_output_without_a_cache_is_refused():
    model = make_model("llama").eval()
    with pytest.raises(TucoError, match="returned no cache"):
        cache_of(model(torch.tensor([[1, 2, 3]]), use_cache=False))
