"""Every Redis key prefix and default TTL, in one place.

Prefixes here are *logical*: `cache.redis_store.RedisTTLStore` prepends its namespace
(``DEFAULT_NAMESPACE``, i.e. ``"frugal:"`` unless configured) to every key it touches, so the
physical Redis key of an exact-cache entry is ``frugal:prompt:<sha256>``, a semantic entry
``frugal:sem:<id>``, and so on. Code that talks to the raw Redis client (e.g. the semantic
stream) composes ``namespace + SEM_STREAM`` itself. The in-memory store uses logical keys as is.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

DEFAULT_NAMESPACE: Final = "frugal:"

# Exact prompt cache entries: PROMPT_PREFIX + sha256 hex of the canonical request.
PROMPT_PREFIX: Final = "prompt:"
# Bumped when the key material or the CachedAnswer encoding changes: old entries become misses.
PROMPT_KEY_VERSION: Final = 1
# Tags of exact-cache entries (knowledge-base document ids) are stored under this sub-prefix,
# so invalidating the prompt cache for a document never touches another component's tags.
PROMPT_TAG_PREFIX: Final = "prompt:"

# The set of keys carrying one tag (RedisTTLStore keeps one Redis set per tag).
TAG_PREFIX: Final = "tag:"

# Semantic cache entries and the stream that announces them to other replicas.
SEM_PREFIX: Final = "sem:"
# Verified-hit verdicts shared by the replicas (cache.verdicts_redis), per embedder digest:
# VERDICT_PREFIX + "<digest>:e:<entry id>" is a list of one entry's newest verdicts, and
# VERDICT_PREFIX + "<digest>:bins" a hash of the pooled counts by score bin. A write refreshes
# the TTL: verdicts outlive the entries they judge (an hour by default, a day for FAQ answers)
# and the pooled counts survive quiet nights, yet what a retired embedder or an expired entry
# leaves behind is gone within a week.
VERDICT_PREFIX: Final = "verdict:"
VERDICT_TTL_S: Final = 7 * 86_400.0
# Cached ``/v1/embeddings`` responses: EMBEDDINGS_PREFIX + sha256 hex of the request.
EMBEDDINGS_PREFIX: Final = "emb:"
SEM_STREAM: Final = "sem:stream"
# Cached tool results of configured agents: TOOL_RESULT_PREFIX + sha256 hex of (tool, args,
# user); the TTL is the tool's own ``cache_ttl_s``.
TOOL_RESULT_PREFIX: Final = "toolres:"
# An ingested knowledge base (chunks and vectors, one msgpack snapshot): KB_PREFIX + name.
KB_PREFIX: Final = "kb:"
# A/B variants of configured agents: counters AB_PREFIX + "<agent>:<variant>:<field>", and
# AB_PREFIX + "req:<request id>" naming the variant that answered (kept for feedback).
AB_PREFIX: Final = "ab:"
AB_REQUEST_TTL_S: Final = 7 * 86_400.0

# Conversation history, cost counters, budgets and rate-limit windows. A history key is
# HISTORY_PREFIX + "<tenant>:user=<percent-encoded user>:<session id>", or with ANONYMOUS_USER
# in the middle when no user is known, so sessions are scoped per (tenant, user).
HISTORY_PREFIX: Final = "hist:"
ANONYMOUS_USER: Final = "anonymous"
# Braces: a Redis Cluster hash tag. Every key of the cost totals, of the budget ledger and of
# the batch lane is in one slot of its own, so their scripts and transactions (several keys
# each) run on Redis Cluster; see README "Sizing".
COST_PREFIX: Final = "{cost}:"
# The set of names admitted to one cost dimension: COST_PREFIX + COST_NAMES + dimension.
COST_NAMES: Final = "names:"
# The ids of the cost records added in one spend bucket: COST_PREFIX + COST_APPLIED + bucket.
# Kept long enough that a record journaled during an outage (metrics.cost_journal) and replayed
# after it is recognised if it had reached Redis after all (e.g. the reply timed out).
COST_APPLIED: Final = "applied:"
COST_APPLIED_TTL_S: Final = 86_400.0
BUDGET_PREFIX: Final = "{budget}:"
# Dashboard history (metrics.history): one hash per scope and minute,
# STATS_HISTORY_PREFIX + "<scope>:<bucket>" (scope "*" or "t:<tenant>"), kept a day by default.
STATS_HISTORY_PREFIX: Final = "stathist:"
# Stored OpenAI Responses (``store: true``): RESPONSE_PREFIX + "<tenant>:<response id>", kept
# RESPONSE_TTL_S by default (OpenAI keeps stored responses for 30 days).
RESPONSE_PREFIX: Final = "resp:"
RESPONSE_TTL_S: Final = 30 * 86_400.0
RATE_LIMIT_PREFIX: Final = "rl:"
# Failed authentications per client address, shared by the replicas (server.auth_failures_redis):
# a sorted set AUTH_FAILURE_PREFIX + "ip:" + address of recent failures, and one hash
# AUTH_FAILURE_PREFIX + "blocked" of the addresses over the limit -> until when (epoch ms).
AUTH_FAILURE_PREFIX: Final = "authfail:"
# Recent output token counts per model (metrics.output_samples_redis), for estimated holds:
# a list OUTPUT_SAMPLES_PREFIX + model, kept OUTPUT_SAMPLES_TTL_S after its last answer.
OUTPUT_SAMPLES_PREFIX: Final = "outsamples:"
OUTPUT_SAMPLES_TTL_S: Final = 86_400.0

# Content classes of cached answers and their default TTLs in seconds; 0 means "never cached".
CLASS_FAQ: Final = "faq"
CLASS_DEFAULT: Final = "default"
CLASS_REALTIME: Final = "realtime"
CLASS_SHORT: Final = "short"

TTL_FAQ_S: Final = 86_400.0
TTL_DEFAULT_S: Final = 3_600.0
TTL_REALTIME_S: Final = 0.0
TTL_SHORT_S: Final = 30.0

DEFAULT_TTL_BY_CLASS: Final = MappingProxyType(
    {
        CLASS_FAQ: TTL_FAQ_S,
        CLASS_DEFAULT: TTL_DEFAULT_S,
        CLASS_REALTIME: TTL_REALTIME_S,
        CLASS_SHORT: TTL_SHORT_S,
    }
)

# The batch lane (agent.batch): BATCH_PREFIX + "job:<id>" (the batch and its provider groups),
# "res:<id>" (a hash: custom_id -> the line's one final result), "active" (the set of batches
# still running), "index:<tenant>" (a sorted set by creation time), "lease:<id>" (the worker
# advancing a batch), "stats" (the lane's totals). Kept BATCH_TTL_S after a batch ends.
BATCH_PREFIX: Final = "{batch}:"
BATCH_TTL_S: Final = 30 * 86_400
BATCH_LEASE_S: Final = 30.0
