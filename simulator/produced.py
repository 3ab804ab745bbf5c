"""What the simulator produced for each tagged request, so a test can check a gateway's bill.

A caller tags a request with ``"metadata": {"sim_tag": "..."}`` in the body (a gateway passes
the body on unchanged, retries and fallbacks included). Every answer to a tagged request adds
one `Produced` entry under its tag: the usage the simulator reported, or, for a stream cut
before its usage chunk (``reported`` false), the output tokens that actually went out plus
the prompt once the first of them did (a stream cut before its first token produced nothing).
``GET /_sim/produced`` lists them; ``POST /_sim/reset`` clears them.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

# Tags kept at most (oldest dropped first): a long soak must not grow the simulator forever.
MAX_TAGS = 200_000


class Produced(msgspec.Struct):
    """One answer (or cut stream) to a tagged request."""

    model: str
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    reported: bool


class _Metadata(msgspec.Struct):
    sim_tag: str | None = None


class _TagPeek(msgspec.Struct):
    metadata: _Metadata | None = None


_peek = msgspec.json.Decoder(_TagPeek)


def tag_of(body: bytes) -> str | None:
    """``metadata.sim_tag`` of a JSON body, or None (also for a body that is not JSON)."""
    try:
        found = _peek.decode(body)
    except msgspec.DecodeError:
        return None
    return None if found.metadata is None else found.metadata.sim_tag


class ProducedTally:
    """Entries by tag, oldest tags dropped past `MAX_TAGS`."""

    def __init__(self) -> None:
        self._by_tag: OrderedDict[str, list[Produced]] = OrderedDict()

    def add(self, tag: str | None, entry: Produced) -> None:
        """Add ``entry`` under ``tag`` (nothing for an untagged request)."""
        if tag is None:
            return
        entries = self._by_tag.get(tag)
        if entries is None:
            entries = self._by_tag[tag] = []
            if len(self._by_tag) > MAX_TAGS:
                self._by_tag.popitem(last=False)
        entries.append(entry)

    def listing(self) -> dict[str, list[Produced]]:
        """Every tag's entries, as ``GET /_sim/produced`` serves them."""
        return dict(self._by_tag)

    def clear(self) -> None:
        """Forget every entry."""
        self._by_tag.clear()
