"""The one outbound-call layer: every call to an agent, an OpenAI-compatible endpoint or an
LLM judge (runs and "Try it" alike) is made through it.

- ``guard``: which addresses may be reached (checked on every connection by ``transport``).
- ``transport``: ``new_client()``, an httpx client whose connections are guarded.
- ``secrets``: stored/env secret references, resolution, scrubbing.
- ``calls``: ``send()`` with retries, backoff, ``Retry-After``, rate and concurrency limits,
  and ``capped()`` for interactive calls.
- ``templating``: the ``{{var}}`` rendering rule.
- ``interactive``: "Try it" gate (per-user rate limit, short timeout, no retries).
"""
