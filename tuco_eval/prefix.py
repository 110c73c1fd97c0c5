"""Few-shot prefixes: which log-likelihood requests share a long token prefix worth computing once.

Pure functions over token lists. A request is (context_enc, continuation_enc); the row lm-eval
scores is (context + continuation)[:-1], so a prefix may cover at most len(context) - 1 tokens:
the last context token must stay in the suffix, its logits score the first continuation token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KEY_TOKENS = 32  # requests are grouped by this many leading context tokens
MIN_PREFIX = 64  # shorter shared prefixes are not worth a separate pass
MIN_GROUP = 2  # distinct contexts per group; one context alone gains nothing


@dataclass(frozen=True)
class PrefixGroup:
    """Requests (by index) whose rows all start with `prefix`."""

    prefix: tuple[int, ...]
    members: tuple[int, ...]


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix shared by every row."""
    shortest = min(len(row) for row in rows)
    first = rows[0]
    for position in range(shortest):
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
    key_tokens: int = KEY_TOKENS,
    min_prefix: int = MIN_PREFIX,
    min_group: int = MIN_GROUP,
) -> tuple[list[PrefixGroup], list[int]]:
    """(groups worth a shared prefix pass, indices of the rest, for the plain path)."""
    buckets: dict[tuple[int, ...], list[int]] = {}
    rest: list[int] = []
    for index, (context, continuation) in enumerate(requests):
        if not fits(context, continuation, max_length) or len(context) <= min_prefix:
            rest.append(index)
            continue
        buckets.setdefault(tuple(context[:key_tokens]), []).append(index)
    groups: list[PrefixGroup] = []
    for members in buckets.values():
        contexts = [requests[i][0] for i in members]
        distinct = {tuple(c) for c in contexts}
        # capped so every context keeps its last token in the suffix
        length = min(common_prefix_length(contexts), min(len(c) for c in contexts) - 1)
        if len(distinct) < min_group or length < min_prefix:
            rest.extend(members)
            continue
        groups.append(PrefixGroup(tuple(contexts[0][:length]), tuple(members)))
    return groups, sorted(rest)


def suffix_row(context: Sequence[int], continuation: Sequence[int], prefix_length: int) -> tuple[int, ...]:
    """The part of the scored row (context + continuation)[:-1] after the prefix."""
    return tuple((list(context) + list(continuation))[:-1][prefix_length:])
