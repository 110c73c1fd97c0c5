"""The three ways to scale fine-tuning (activations, logits, weights) and their results.

`scaling` (the `Scaling` switch `tuco_scaled` holds), `logits`, `weights`: the mechanisms, with
torch. `store`, `sweep`, `cv`, `report`: where each mode's results live, the per-mode sweep, the
modes compared with the same folds, and their report; `store`, `cv` and `report` import no torch.
See docs/modes.md.
"""
