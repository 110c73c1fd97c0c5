"""`tuco-eval watch`: a training folder's checkpoints evaluated as the trainer writes them.

`tuco_eval.watch.loop.Watcher` looks at TRAIN_DIR every few seconds, evaluates each finished
`checkpoint-<step>` in step order into one ROOT (`tuco_eval.sweeps.series`, the base loaded once)
and rewrites the report after each one; ROOT/watch.json (`tuco_eval.store.watch_state`) keeps its
account, so a killed watcher restarts where it was.
"""
