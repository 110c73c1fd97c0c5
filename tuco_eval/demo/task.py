"""The demo's own task: "Is <thing> a kind of <category>?", generated from a seed (no download).

Train and evaluation docs use disjoint halves of each category's words, so the adapter never saw
an evaluation item.
"""

from __future__ import annotations

import random

CHOICES = [" Yes", " No"]
CATEGORIES = {
    "animal": "dog cat horse cow sheep goat lion tiger bear wolf fox deer rabbit mouse elephant giraffe "
              "zebra monkey camel donkey kangaroo koala panda otter beaver squirrel hedgehog leopard "
              "cheetah moose",
    "fruit": "apple banana cherry grape lemon mango orange peach pear plum apricot kiwi lime melon "
             "papaya pineapple raspberry strawberry blueberry blackberry coconut fig guava lychee "
             "nectarine pomegranate tangerine watermelon cranberry date",
    "vehicle": "car bus truck bicycle motorcycle train tram van taxi scooter tractor ambulance "
               "helicopter airplane ship boat canoe yacht submarine jeep lorry minibus trolley "
               "sailboat ferry glider rocket skateboard sled limousine",
    "tool": "hammer screwdriver wrench saw drill chisel pliers shovel rake axe file spanner crowbar "
            "trowel hoe mallet scissors knife ladder tape clamp sander level stapler awl plane "
            "pickaxe sickle scythe vise",
    "color": "red blue green yellow purple orange pink brown black white gray violet indigo cyan "
             "magenta maroon navy teal olive beige turquoise crimson scarlet amber ivory lavender "
             "gold silver bronze charcoal",
}
SPLITS = ("train", "eval")


def _words(category: str, split: str) -> list[str]:
    words = CATEGORIES[category].split()
    return words[0::2] if split == "train" else words[1::2]  # disjoint halves


def demo_docs(n: int, split: str = "eval", seed: int = 0) -> list[dict]:
    """`n` docs: `question`, `choices` [" Yes", " No"], `label` (index of the right answer)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"{split}-{seed}")
    names = sorted(CATEGORIES)
    docs = []
    for index in range(n):
        category = rng.choice(names)
        truth = index % 2 == 0  # balanced: half the answers are " Yes"
        source = category if truth else rng.choice([c for c in names if c != category])
        thing = rng.choice(_words(source, split))
        docs.append({"id": f"{split}-{index}", "question": f"Is {thing} a kind of {category}?",
                     "choices": CHOICES, "label": 0 if truth else 1})
    return docs


def prompt(doc: dict) -> str:
    return f"Question: {doc['question']}\nAnswer:"
