"""Few-shot prefixes: which log-likelihood requests share a long token prefix worth computing once.

Pure functions over token lists. A request is (context_enc, continuation_enc); the row lm-eval
scores is (context + continuation)[:-1], so a prefix may cover at most len(context) - 1 tokens:
the last context token must stay in the suffix, its logits score the first continuation token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIN_PREFIX = 64  # shorter shared prefixes are not worth a separate pass
MIN_GROUP = 2  # distinct contexts per group; one context alone gains nothing


@dataclass(frozen=True)
class PrefixGroup:
    """Requests (by index) whose rows all start with `prefix`."""

    prefix: tuple[int, ...]
    members: tuple[int, ...]


def common_prefix_length(rows: Sequence[Sequence[int]], start: int = 0) -> int:
    """Length of the longest token prefix shared by every row (known to share `start` tokens)."""
    shortest = min(len(row) for row in rows)
    first = rows[0]
    for position in range(start, shortest):
        token = first[position]
        if any(row[position] != token for row in rows):
            return position
    return shortest


def fits(context: Sequence[int], continuation: Sequence[int], max_length: int) -> bool:
    """True when lm-eval would score the request without truncating it from the left."""
    return len(context) + len(continuation) <= max_length + 1


def group_by_prefix(
    requests: Sequence[tuple[Sequence[int], Sequence[int]]],
    max_length: int,
    min_prefix: int = MIN_PREFIX,
    min_group: int = MIN_GROUP,
) -> tuple[list[PrefixGroup], list[int]]:
    """(groups worth a shared prefix pass, indices of the rest, for the plain path).

    The contexts form a prefix tree; each subtree is either one group (its common prefix computed
    once) or split at its first differing token, whichever computes fewer tokens. So requests of
    several tasks behind one long header (a chat template's system turn) still get each task's
    own few-shot prefix.
    """
    contexts = [list(context) for context, _ in requests]
    distinct: dict[tuple[int, ...], int] = {}
    identity = [distinct.setdefault(tuple(c), len(distinct)) for c in contexts]
    candidates, rest = [], []
    for index, (context, continuation) in enumerate(requests):
        usable = fits(context, continuation, max_length) and len(context) > min_prefix
        (candidates if usable else rest).append(index)
    groups = []
    if candidates:
        plan = _plan(candidates, 0, contexts, identity, min_prefix, min_group, depth=0)
        for length, members in plan:
            if length:
                groups.append(PrefixGroup(tuple(contexts[members[0]][:length]), tuple(sorted(members))))
            else:
                rest.extend(members)
    return groups, sorted(rest)


MAX_SPLIT_DEPTH = 64  # bounds the recursion on adversarial inputs; deeper subtrees stay whole
Plan = list[tuple[int, list[int]]]  # (prefix length, or 0 for the plain path; request indices)


def _plan(
    members: list[int],
    known: int,
    contexts: list[list[int]],
    identity: list[int],
    min_prefix: int,
    min_group: int,
    depth: int,
) -> Plan:
    rows = [contexts[i] for i in members]
    shared = common_prefix_length(rows, known)
    length = min(shared, min(len(row) for row in rows) - 1)  # every context keeps a suffix token
    worth = length >= min_prefix and len({identity[i] for i in members}) >= min_group
    whole: Plan = [(length if worth else 0, members)]
    if shared >= min(len(row) for row in rows) or depth >= MAX_SPLIT_DEPTH:
        return whole  # no differing token to split at
    children: dict[int, list[int]] = {}
    for index in members:
        children.setdefault(contexts[index][shared], []).append(index)
    split = [
        entry
        for child in children.values()
        for entry in _plan(child, shared + 1, contexts, identity, min_prefix, min_group, depth + 1)
    ]
    return split if _cost(split, contexts) < _cost(whole, contexts) else whole


def _cost(plan: Plan, contexts: list[list[int]]) -> int:
    """Context tokens a plan computes: each prefix once, then every member's suffix."""
    return sum(length + sum(len(contexts[i]) - length for i in members) for length, members in plan)


def suffix_row(context: Sequence[int], continuation: Sequence[int], prefix_length: int) -> tuple[int, ...]:
    """The part of the scored row (context + continuation)[:-1] after the prefix."""
    return tuple((list(context) + list(continuation))[:-1][prefix_length:])
