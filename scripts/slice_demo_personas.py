"""Cut the demo's small slice of the persona datasets (Anthropic model-written evals, CC-BY-4.0).

Per persona, a seeded draw of the 1000 rows: --n-eval held-out evaluation docs and --n-train
training docs, disjoint, each half "matching = Yes" and half "matching = No". Writes one JSONL
per persona (fields of the original rows plus `doc_id`, the row number, and `split`), the
licence and an attribution README into --out.

    python scripts/slice_demo_personas.py --data-dir ../shared/data --out tuco_eval/demo/personas
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

from tuco_eval.demo.personas import PERSONAS

SOURCE = "model-written-evals/persona"


def draw(rows: list[dict], n_eval: int, n_train: int, seed: int, name: str) -> dict[int, str]:
    """doc_id -> split; balanced by the matching answer, disjoint by construction."""
    chosen: dict[int, str] = {}
    for answer in (" Yes", " No"):
        ids = [i for i, row in enumerate(rows) if row["answer_matching_behavior"] == answer]
        random.Random(f"{seed}-{name}-{answer}").shuffle(ids)
        chosen |= {i: "eval" for i in ids[: n_eval // 2]}
        chosen |= {i: "train" for i in ids[n_eval // 2 : (n_eval + n_train) // 2]}
    return dict(sorted(chosen.items()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("tuco_eval/demo/personas"))
    p.add_argument("--n-eval", type=int, default=100)
    p.add_argument("--n-train", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in PERSONAS:
        lines = (args.data_dir / SOURCE / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines]
        picked = draw(rows, args.n_eval, args.n_train, args.seed, name)
        out = [json.dumps({"doc_id": i, "split": s, **rows[i]}, ensure_ascii=False) for i, s in picked.items()]
        (args.out / f"{name}.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    shutil.copyfile(args.data_dir / "model-written-evals" / "LICENSE", args.out / "LICENSE")
    (args.out / "README.md").write_text(f"""# Persona statements for the demo (a slice)

{args.n_eval + args.n_train} statements from each of {len(PERSONAS)} persona datasets of Anthropic's
model-written evaluations — {", ".join(f"`{n}`" for n in PERSONAS)} —
unchanged except for two added fields: `doc_id` (the row number in the original 1000-row file)
and `split` (`train`: {args.n_train} rows that train the demo's persona adapter; `eval`:
{args.n_eval} held-out rows that the demo evaluates). Each split is half statements whose
persona-matching answer is " Yes", half " No"; seeded draw (seed {args.seed}) by
`scripts/slice_demo_personas.py`.

- **Source**: Perez et al., "Discovering Language Model Behaviors with Model-Written
  Evaluations" (2022), <https://github.com/anthropics/evals>, folder `persona/`
  (on the Hugging Face Hub: `Anthropic/model-written-evals`).
- **Licence**: Creative Commons Attribution 4.0 International (CC-BY-4.0), copied in `LICENSE`.
  Changes: rows selected, two fields added; the statements and answers are unchanged.
""", encoding="utf-8")


if __name__ == "__main__":
    main()
