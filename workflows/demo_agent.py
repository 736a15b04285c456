"""The offline demo agent: answers questions about the bundled Acme Robotics handbook.

Deterministic and local: it retrieves the documents that share the most (idf-weighted) words
with the question, then answers with the sentence of those documents that matches the
question best. It reports what a real RAG agent reports: retrieved chunks, token counts and
a retriever span plus an "llm" span. It is registered as the ``python`` workflow
``workflows.demo_agent.answer_question`` and served over HTTP by ``views_demo``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

CORPUS_PATH = Path(__file__).with_name("demo_corpus.json")
INDEX_UUID = "5b0d7a44-2f3e-4c59-9a8e-acce55ab1e00"
TOP_K = 3

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "get",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "so",
        "than",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "up",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "much",
        "many",
        "long",
        "does",
        "did",
        "acme",
        "robot",
        "robots",
    ]
)
# Question cues: what kind of sentence answers "how much", "how heavy", "when"...
ANSWER_CUES: tuple[tuple[re.Pattern, re.Pattern], ...] = tuple(
    (re.compile(q, re.I), re.compile(a, re.I))
    for q, a in (
        (r"\b(cost|price|how much|pay|fee)\b", r"\beuros?\b"),
        (r"\b(heavy|weigh|weight)\b", r"\b(weighs?|kilograms?)\b"),
        (r"\b(tall|high|height)\b", r"\b(centimetres|millimetres|tall)\b"),
        (r"\b(email|e-mail|address)\b", r"@"),
        (r"\b(when|year)\b", r"\b(1[89]|20)\d\d\b|\bdays?\b|\bmonday|\bnight\b"),
        (
            r"\bhow (long|many|often|far|big|fast)\b",
            r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|fifteen|every)\b",
        ),
        (r"\bwhere\b", r"\b(in|from) [A-Z]"),
        (r"\bhours\b", r"\b(am|pm)\b"),
    )
)
_WORD = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "s", "ed"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> Counter:
    return Counter(_stem(w) for w in _words(text))


@lru_cache(maxsize=1)
def corpus() -> list[dict]:
    return json.loads(CORPUS_PATH.read_text())


@lru_cache(maxsize=1)
def _index() -> tuple[list[Counter], dict[str, float]]:
    docs = [_terms(doc["title"] + " " + doc["text"]) for doc in corpus()]
    df = Counter(term for terms in docs for term in terms)
    n = len(docs)
    idf = {term: math.log(1 + n / count) for term, count in df.items()}
    return docs, idf


# Words a question uses for what the handbook says differently.
SYNONYMS = {"heavy": ("weigh",), "weight": ("weigh",), "price": ("cost",), "hour": ("pm",)}


def _query_terms(question: str) -> Counter:
    terms = _terms(question)
    for term in list(terms):
        for extra in SYNONYMS.get(term, ()):
            terms[extra] += 1
    return terms


def _score(query: Counter, terms: Counter, idf: dict[str, float], cap: int = 2) -> float:
    return sum(idf.get(t, 0.0) * min(terms[t], cap) for t in query if t in terms)


def retrieve(question: str, k: int = TOP_K) -> list[dict]:
    query = _query_terms(question)
    docs, idf = _index()
    scored = [(_score(query, terms, idf), i) for i, terms in enumerate(docs)]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [corpus()[i] for score, i in scored[:k] if score > 0]


def best_sentence(question: str, documents: list[dict]) -> str:
    query = _query_terms(question)
    _, idf = _index()
    best, best_score = "", 0.0
    for rank, doc in enumerate(documents):
        for sentence in _SENTENCE.split(doc["text"]):
            # Slight preference for the better-ranked document on ties.
            score = _score(query, _terms(sentence), idf, cap=1) - rank * 0.5
            if score > 0:
                score += sum(
                    3.0
                    for q_cue, a_cue in ANSWER_CUES
                    if q_cue.search(question) and a_cue.search(sentence)
                )
            if score > best_score:
                best, best_score = sentence.strip(), score
    return best


def _tokens(text: str) -> int:
    """A rough token estimate (about 4 tokens per 3 words), enough for the reports."""
    return max(1, math.ceil(len(text.split()) * 4 / 3))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def answer_question(question: str = "", context: str | None = None, **_ignored) -> dict:
    """Answer ``question`` from the bundled corpus. Returns the answer and what the agent did.

    ``context`` (optional) is a passage the caller already has, e.g. a dataset's ``context``
    column: it is read first, before the corpus passages the retriever finds."""
    question = str(question or "").strip()
    context = context.strip() if isinstance(context, str) else ""
    retrieved_at = _now()
    documents = retrieve(question) if question else []
    if context:
        given = {"id": "context", "title": "Provided context", "text": context[:20_000]}
        documents = [given] + [d for d in documents if d["text"] != given["text"]][: TOP_K - 1]
    chunks = [
        {"text": doc["text"], "source_name": doc["title"], "index_uuid": INDEX_UUID}
        for doc in documents
    ]
    answer = best_sentence(question, documents) or "I don't know."
    prompt = question + "\n\n" + "\n\n".join(chunk["text"] for chunk in chunks)
    return {
        "answer": answer,
        "chunks": chunks,
        "input_tokens": _tokens(prompt),
        "output_tokens": _tokens(answer),
        "spans": [
            {
                "name": "retrieve",
                "type": "TRACE_SPAN_TYPE_RETRIEVER",
                "input": {"query": question},
                "output": {"documents": [doc["title"] for doc in documents]},
                "created_at": retrieved_at,
            },
            {
                "name": "answer",
                "type": "TRACE_SPAN_TYPE_LLM",
                "input": {"question": question, "context": [c["source_name"] for c in chunks]},
                "output": {"answer": answer},
                "created_at": _now(),
            },
        ],
    }
