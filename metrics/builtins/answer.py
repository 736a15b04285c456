"""Answer correctness: how much of the expected answer a response states, and how little it
adds that the expected answer does not say. Deterministic and offline.

Inputs are seed 000's names: ``questions``, ``ground_truth_answers`` (one reference or a list)
and ``answers``. The score is a weighted sum, in the spirit of RAGAS' answer correctness but
without an LLM:

- **statement F1** (weight ``1 - similarity_weight``): answer and reference are split into
  sentences (statements). An answer statement is *supported* when at least ``match_threshold``
  of its words are in one reference statement (it says nothing the reference does not); a
  reference statement is *covered* when at least ``match_threshold`` of its words are in the
  answer. With TP = supported answer statements, FP = the others and FN = uncovered reference
  statements, statement F1 = TP / (TP + (FP + FN) / 2).
- **token F1** (weight ``similarity_weight``): SQuAD token F1 of the whole answer against the
  whole reference.

Words are compared after SQuAD normalisation (lower case, no punctuation or articles), with
hyphens as spaces and a plural ``s`` dropped. Words of the question are left out (unless that
would leave nothing), so an answer that only repeats the question earns nothing for it.
With several references the best-scoring one counts. 1.0 is a complete and exact answer;
0.0 shares nothing with it.
"""

from __future__ import annotations

import re
from collections import Counter

from metrics.builtins.text import squad_normalize
from metrics.params import Param
from metrics.registry import Implementation, MetricInputError, as_text, as_text_list, inp, register
from metrics.scoring import MetricOutcome

_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")


def _statements(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCES.split(text)) if squad_normalize(s)]


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> list[str]:
    return [_stem(w) for w in squad_normalize(re.sub(r"[-/]", " ", text)).split()]


def _tokens(text: str, ignored: set[str]) -> list[str]:
    tokens = _words(text)
    kept = [t for t in tokens if t not in ignored]
    return kept or tokens


def _share(part: list[str], whole: list[str]) -> float:
    """The fraction of ``part``'s words (with repeats) found in ``whole``."""
    if not part:
        return 0.0
    return sum((Counter(part) & Counter(whole)).values()) / len(part)


def _f1(left: list[str], right: list[str]) -> float:
    if not left or not right:
        return float(left == right)
    same = sum((Counter(left) & Counter(right)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(left), same / len(right)
    return 2 * precision * recall / (precision + recall)


@register
class AnswerCorrectness(Implementation):
    key = "answer_correctness"
    label = "Answer correctness"
    description = (
        "How completely and exactly the answer states the ground truth: a weighted sum of "
        "statement F1 (answer sentences supported by / covering the reference's, by token "
        "overlap) and whole-answer token F1, ignoring words of the question. 0-1."
    )
    inputs = (
        inp("questions", "The question asked (its words do not count as overlap).", False),
        inp("ground_truth_answers", "The expected answer, or a list of acceptable answers."),
        inp("answers", "The answer to score (usually the workflow's answer)."),
    )
    params = (
        Param(
            "similarity_weight",
            "float",
            default=0.25,
            min=0.0,
            max=1.0,
            help="Weight of whole-answer token F1; the rest goes to statement F1.",
        ),
        Param(
            "match_threshold",
            "float",
            default=0.5,
            min=0.0,
            max=1.0,
            help="Share of a statement's words the other side must contain.",
        ),
    )

    def setup(self) -> None:
        self.weight = float(self.p.get("similarity_weight", 0.25))
        self.threshold = float(self.p.get("match_threshold", 0.5))

    def _against(self, answer: str, reference: str, ignored: set[str]) -> tuple[float, str]:
        answer_statements = [_tokens(s, ignored) for s in _statements(answer)]
        reference_statements = [_tokens(s, ignored) for s in _statements(reference)]
        if not reference_statements:
            raise MetricInputError("Input ground_truth_answers has no text.")
        if not answer_statements:
            return 0.0, "The answer is empty."
        answer_words = [word for statement in answer_statements for word in statement]
        supported = sum(
            any(_share(a, r) >= self.threshold for r in reference_statements)
            for a in answer_statements
        )
        covered = sum(_share(r, answer_words) >= self.threshold for r in reference_statements)
        false_pos = len(answer_statements) - supported
        false_neg = len(reference_statements) - covered
        statement_f1 = supported / (supported + (false_pos + false_neg) / 2) if supported else 0.0
        token_f1 = _f1(_tokens(answer, ignored), _tokens(reference, ignored))
        score = (1 - self.weight) * statement_f1 + self.weight * token_f1
        reasoning = (
            f"{supported} of {len(answer_statements)} answer statement(s) supported, "
            f"{covered} of {len(reference_statements)} reference statement(s) covered "
            f"(statement F1 {statement_f1:.2f}); token F1 {token_f1:.2f}."
        )
        return score, reasoning

    def score(self, inputs: dict) -> MetricOutcome:
        question = inputs.get("questions")
        question_text = as_text(inputs, "questions") if question not in (None, "") else ""
        ignored = set(_words(question_text))
        answer = as_text(inputs, "answers")
        best = max(
            (
                self._against(answer, reference, ignored)
                for reference in as_text_list(inputs, "ground_truth_answers")
            ),
            key=lambda pair: pair[0],
        )
        return MetricOutcome(number_value=round(best[0], 6), reasoning=best[1])
