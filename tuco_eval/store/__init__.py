"""What a sweep leaves on disk and how it is read back (docs/formats.md): per-sample units with
checksummed manifests, unit locks and score matrices (`units`), RUN_DIR/run.json (`run_json`),
each doc's texts (`doc_texts`), where each scaling mode's store lives (`run_json`), the (task,
filter) result rows of a store (`task_rows`) and a checkpoint series' ROOT/checkpoints.json
(`checkpoints`).

May import records, util, numpy and huggingface_hub; never torch, transformers, lm-eval, peft or
accelerate (`lint-imports` checks), so `cv` and `report` run where none is installed.
"""
