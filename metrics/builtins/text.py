"""Deterministic text metrics: string checks, SQuAD token F1 / exact match, BLEU and chrF
(sacrebleu), ROUGE (rouge-score), Levenshtein similarity (rapidfuzz), length checks.

Every text compared here (responses, references, needles, patterns) is NFC-normalised first
(``metrics.builtins.textnorm``), and token-based metrics use its Unicode-aware tokenizers,
which equal the reference implementations' on ASCII text.
"""

from __future__ import annotations

import re
from collections import Counter

from django.core.exceptions import ValidationError
from rapidfuzz.distance import Levenshtein
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

from metrics.builtins.textnorm import RougeTokenizer, nfc, squad_normalize, squad_tokens
from metrics.params import Param
from metrics.registry import Implementation, MetricInputError, inp, register
from metrics.registry import as_text as _as_text
from metrics.registry import as_text_list as _as_text_list
from metrics.scoring import MetricOutcome

RESPONSE = inp("response", "The text to check (usually the workflow's answer).")
EXPECTED = inp("expected", "The reference text (ground truth).")
EXPECTED_OPTIONAL = inp(
    "expected", "Expected text(s); used instead of / in addition to the parameter.", False
)
CASE_SENSITIVE = Param("case_sensitive", "bool", default=True, help="Compare case exactly.")
ONE = MetricOutcome.number  # short alias used in the hot paths


NEEDLE_NOTE = (
    " Texts are NFC-normalised; case-insensitive mode uses Unicode case folding; an empty "
    "value is found in every response; with no values and no expected input it is an error."
)


def _binary(ok: bool, reasoning: str | None = None) -> MetricOutcome:
    return MetricOutcome(number_value=1.0 if ok else 0.0, reasoning=reasoning)


def as_text(inputs: dict, name: str) -> str:
    """Input ``name`` as NFC text (numbers and JSON values serialised)."""
    return nfc(_as_text(inputs, name))


def as_text_list(inputs: dict, name: str) -> list[str]:
    return [nfc(t) for t in _as_text_list(inputs, name)]


@register
class ExactMatch(Implementation):
    key = "exact_match"
    label = "Exact match"
    description = (
        "1 when the response equals the expected text (or any of a list of them), else 0. "
        "Both are NFC-normalised; leading/trailing whitespace is ignored unless strip is off; "
        "case-insensitive mode uses Unicode case folding (ß = ss). Empty equals empty; numbers "
        "and JSON values are compared as their JSON text."
    )
    inputs = (RESPONSE, EXPECTED)
    params = (
        CASE_SENSITIVE,
        Param("strip", "bool", default=True, help="Ignore leading and trailing whitespace."),
        Param(
            "collapse_whitespace",
            "bool",
            default=False,
            help="Treat any run of whitespace as one space.",
        ),
    )

    def setup(self) -> None:
        self.case_sensitive = self.p.get("case_sensitive", True)
        self.strip = self.p.get("strip", True)
        self.collapse = self.p.get("collapse_whitespace", False)

    def _norm(self, text: str) -> str:
        if self.collapse:
            text = " ".join(text.split())
        elif self.strip:
            text = text.strip()
        if not self.case_sensitive:
            text = text.casefold()
        return text

    def score(self, inputs: dict) -> MetricOutcome:
        response = inputs.get("response")
        expected = inputs.get("expected")
        response = nfc(response) if type(response) is str else as_text(inputs, "response")
        if type(expected) is str:
            return _binary(self._norm(response) == self._norm(nfc(expected)))
        norm = self._norm(response)
        return _binary(any(norm == self._norm(e) for e in as_text_list(inputs, "expected")))


class _NeedleCheck(Implementation):
    """Shared parts of the contains family: needles from params and/or the expected input."""

    inputs = (RESPONSE, EXPECTED_OPTIONAL)
    params = (
        Param("values", "str_list", help="Texts to look for (one per line)."),
        CASE_SENSITIVE,
    )

    def setup(self) -> None:
        self.case_sensitive = self.p.get("case_sensitive", True)
        values = [nfc(v) for v in self.p.get("values") or []]
        self.values = values if self.case_sensitive else [v.casefold() for v in values]

    def needles(self, inputs: dict) -> list[str]:
        if inputs.get("expected") is None:
            needles = self.values
        else:
            extra = as_text_list(inputs, "expected")
            if not self.case_sensitive:
                extra = [v.casefold() for v in extra]
            needles = self.values + extra
        if not needles:
            raise MetricInputError("Nothing to look for: set values or map the expected input.")
        return needles

    def haystack(self, inputs: dict) -> str:
        response = inputs.get("response")
        response = nfc(response) if type(response) is str else as_text(inputs, "response")
        return response if self.case_sensitive else response.casefold()


@register
class Contains(_NeedleCheck):
    key = "contains"
    label = "Contains"
    description = (
        "1 when the response contains the expected text (every listed value), else 0." + NEEDLE_NOTE
    )

    def score(self, inputs: dict) -> MetricOutcome:
        haystack = self.haystack(inputs)
        missing = [n for n in self.needles(inputs) if n not in haystack]
        return _binary(not missing, f"Missing: {missing[:5]}" if missing else None)


@register
class ContainsAny(_NeedleCheck):
    key = "contains_any"
    label = "Contains any"
    description = "1 when the response contains at least one of the values, else 0." + NEEDLE_NOTE

    def score(self, inputs: dict) -> MetricOutcome:
        haystack = self.haystack(inputs)
        return _binary(any(n in haystack for n in self.needles(inputs)))


@register
class ContainsAll(_NeedleCheck):
    key = "contains_all"
    label = "Contains all"
    description = (
        "Share of the values the response contains (1 when it contains all of them)." + NEEDLE_NOTE
    )

    def score(self, inputs: dict) -> MetricOutcome:
        haystack = self.haystack(inputs)
        needles = self.needles(inputs)
        missing = [n for n in needles if n not in haystack]
        return ONE(
            (len(needles) - len(missing)) / len(needles),
            f"Missing: {missing[:5]}" if missing else None,
        )


@register
class NotContains(_NeedleCheck):
    key = "not_contains"
    label = "Does not contain"
    description = "1 when the response contains none of the values, else 0." + NEEDLE_NOTE
    category = "METRIC_CATEGORY_SAFETY_AND_SECURITY"

    def score(self, inputs: dict) -> MetricOutcome:
        haystack = self.haystack(inputs)
        found = [n for n in self.needles(inputs) if n in haystack]
        return _binary(not found, f"Found: {found[:5]}" if found else None)


@register
class StartsWith(_NeedleCheck):
    key = "starts_with"
    label = "Starts with"
    description = (
        "1 when the response (leading whitespace ignored) starts with a value, else 0."
        + NEEDLE_NOTE
    )

    def score(self, inputs: dict) -> MetricOutcome:
        haystack = self.haystack(inputs).lstrip()
        return _binary(haystack.startswith(tuple(self.needles(inputs))))


@register
class RegexMatch(Implementation):
    key = "regex_match"
    label = "Regex match"
    description = (
        "1 when the Python regular expression matches the response (anywhere, or the whole "
        "text in fullmatch mode), else 0. Pattern and text are NFC-normalised; \\w and \\d "
        "are Unicode-aware; an invalid pattern in the input is an error for that row."
    )
    inputs = (
        RESPONSE,
        inp("pattern", "A regular expression (instead of the parameter).", False),
    )
    params = (
        Param("pattern", "str", help="A Python regular expression."),
        Param(
            "mode",
            "choice",
            default="search",
            choices=("search", "fullmatch"),
            help="search: anywhere in the text; fullmatch: the whole text.",
        ),
        Param("ignore_case", "bool", default=False),
    )

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        if params.get("pattern"):
            try:
                re.compile(params["pattern"])
            except re.error as exc:
                raise ValidationError(
                    {"params.pattern": [f"Invalid regular expression: {exc}."]}
                ) from None

    def setup(self) -> None:
        self.flags = re.IGNORECASE if self.p.get("ignore_case") else 0
        self.fullmatch = self.p.get("mode") == "fullmatch"
        pattern = self.p.get("pattern")
        self.compiled = re.compile(nfc(pattern), self.flags) if pattern else None

    def score(self, inputs: dict) -> MetricOutcome:
        compiled = self.compiled
        if inputs.get("pattern") is not None:
            try:
                compiled = re.compile(as_text(inputs, "pattern"), self.flags)
            except re.error as exc:
                raise MetricInputError(f"Input pattern is not a valid regex: {exc}.") from None
        if compiled is None:
            raise MetricInputError("Set the pattern parameter or map the pattern input.")
        text = as_text(inputs, "response")
        found = compiled.fullmatch(text) if self.fullmatch else compiled.search(text)
        return _binary(found is not None)


# --- SQuAD (official evaluation script, Unicode-extended as MLQA) ------------------------
def squad_f1(prediction: str, ground_truth: str) -> float:
    """SQuAD 2.0 ``compute_f1``: when either side has no tokens after normalisation the F1
    is 1 if both have none, else 0 (SQuAD 1.1 gave 0 in both cases)."""
    prediction_tokens = squad_tokens(prediction)
    truth_tokens = squad_tokens(ground_truth)
    if not prediction_tokens or not truth_tokens:
        return float(prediction_tokens == truth_tokens)
    common = Counter(prediction_tokens) & Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(prediction_tokens)
    recall = same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


SQUAD_NOTE = (
    " Normalisation of the official SQuAD script (lowercase; punctuation and the articles "
    "a/an/the removed; whitespace tokens), extended as in MLQA: NFC, Unicode punctuation "
    "removed too, each Chinese/Japanese (Han, Hiragana, Katakana) character a token; equal "
    "to the official script on ASCII text."
)


@register
class SquadF1(Implementation):
    key = "squad_f1"
    label = "Token F1 (SQuAD)"
    description = (
        "SQuAD 2.0 token-overlap F1 between response and reference, the best over a list "
        "of references. Empty-answer rule of SQuAD 2.0: if the response or the reference has "
        "no tokens after normalisation (empty, only punctuation or articles), the F1 is 1 "
        "when both have none, else 0." + SQUAD_NOTE
    )
    inputs = (RESPONSE, EXPECTED)

    def score(self, inputs: dict) -> MetricOutcome:
        prediction = as_text(inputs, "response")
        return ONE(max(squad_f1(prediction, t) for t in as_text_list(inputs, "expected")))


@register
class SquadExactMatch(Implementation):
    key = "squad_exact_match"
    label = "Exact match (SQuAD)"
    description = (
        "SQuAD exact match (same in SQuAD 1.1 and 2.0): 1 when the normalised response "
        "equals a normalised reference (any of a list), else 0; two texts that are empty "
        "after normalisation are equal." + SQUAD_NOTE
    )
    inputs = (RESPONSE, EXPECTED)

    def score(self, inputs: dict) -> MetricOutcome:
        prediction = squad_normalize(as_text(inputs, "response"))
        truths = as_text_list(inputs, "expected")
        return _binary(any(prediction == squad_normalize(t) for t in truths))


# --- sacrebleu -----------------------------------------------------------------------------
@register
class SentenceBleu(Implementation):
    key = "bleu"
    label = "BLEU"
    description = (
        "Sentence BLEU (sacrebleu, effective order, default 13a tokenizer; intl or char for "
        "non-Latin scripts), 0-100, against one reference or several. Texts are NFC-"
        "normalised; an empty response scores 0."
    )
    inputs = (RESPONSE, inp("expected", "Reference text, or a list of references."))
    params = (
        Param("tokenize", "choice", default="13a", choices=("13a", "intl", "char", "none")),
        Param("lowercase", "bool", default=False),
    )
    range_max = 100.0

    def setup(self) -> None:
        self.bleu = BLEU(
            tokenize=self.p.get("tokenize", "13a"),
            lowercase=self.p.get("lowercase", False),
            effective_order=True,
        )

    def score(self, inputs: dict) -> MetricOutcome:
        result = self.bleu.sentence_score(
            as_text(inputs, "response"), as_text_list(inputs, "expected")
        )
        return ONE(result.score, str(result))


@register
class SentenceChrf(Implementation):
    key = "chrf"
    label = "chrF"
    description = (
        "Sentence chrF (sacrebleu), 0-100; word order 2 gives chrF++. Character n-grams, so "
        "it works for any script; whitespace is ignored; texts are NFC-normalised; an empty "
        "response scores 0."
    )
    inputs = SentenceBleu.inputs
    params = (
        Param("word_order", "int", default=0, min=0, max=2),
        Param("lowercase", "bool", default=False),
    )
    range_max = 100.0

    def setup(self) -> None:
        self.chrf = CHRF(
            word_order=self.p.get("word_order", 0), lowercase=self.p.get("lowercase", False)
        )

    def score(self, inputs: dict) -> MetricOutcome:
        result = self.chrf.sentence_score(
            as_text(inputs, "response"), as_text_list(inputs, "expected")
        )
        return ONE(result.score, str(result))


# --- rouge-score ---------------------------------------------------------------------------
@register
class Rouge(Implementation):
    key = "rouge"
    label = "ROUGE"
    description = (
        "ROUGE-1, ROUGE-2 or ROUGE-L (rouge-score), the best over a list of references. "
        "Unicode-aware tokens (letters, marks and digits; each Chinese/Japanese character a "
        "token; NFC; lowercased), identical to rouge-score's on ASCII text; the Porter "
        "stemmer applies to ASCII words only. A response or reference with no tokens "
        "scores 0."
    )
    inputs = SentenceBleu.inputs
    params = (
        Param("rouge_type", "choice", default="rougeL", choices=("rouge1", "rouge2", "rougeL")),
        Param("measure", "choice", default="fmeasure", choices=("fmeasure", "precision", "recall")),
        Param("use_stemmer", "bool", default=False, help="Porter-stem words first."),
    )

    def setup(self) -> None:
        self.rouge_type = self.p.get("rouge_type", "rougeL")
        self.measure = self.p.get("measure", "fmeasure")
        self.scorer = rouge_scorer.RougeScorer(
            [self.rouge_type],
            tokenizer=RougeTokenizer(use_stemmer=self.p.get("use_stemmer", False)),
        )

    def score(self, inputs: dict) -> MetricOutcome:
        prediction = as_text(inputs, "response")
        best = max(
            getattr(self.scorer.score(target, prediction)[self.rouge_type], self.measure)
            for target in as_text_list(inputs, "expected")
        )
        return ONE(best)


@register
class LevenshteinSimilarity(Implementation):
    key = "levenshtein_similarity"
    label = "Levenshtein similarity"
    description = (
        "1 - normalised Levenshtein distance (rapidfuzz: distance over the longer length), "
        "the best over a list of references; counted in Unicode code points after NFC. Two "
        "empty texts score 1."
    )
    inputs = SentenceBleu.inputs
    params = (CASE_SENSITIVE,)

    def setup(self) -> None:
        self.processor = None if self.p.get("case_sensitive", True) else str.casefold

    def score(self, inputs: dict) -> MetricOutcome:
        response = as_text(inputs, "response")
        return ONE(
            max(
                Levenshtein.normalized_similarity(response, t, processor=self.processor)
                for t in as_text_list(inputs, "expected")
            )
        )


class _InRange(Implementation):
    inputs = (RESPONSE,)
    params = (
        Param("min", "int", min=0, help="Smallest allowed (inclusive)."),
        Param("max", "int", min=0, help="Largest allowed (inclusive)."),
    )
    category = "METRIC_CATEGORY_MODEL_FIT"

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        low, high = params.get("min"), params.get("max")
        if low is None and high is None:
            raise ValidationError({"params.min": ["Set a minimum, a maximum or both."]})
        if low is not None and high is not None and low > high:
            raise ValidationError({"params.max": ["Must not be below the minimum."]})

    def measure(self, text: str) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, inputs: dict) -> MetricOutcome:
        size = self.measure(as_text(inputs, "response"))
        low, high = self.p.get("min"), self.p.get("max")
        ok = (low is None or size >= low) and (high is None or size <= high)
        return _binary(ok, f"{size} {self.unit}")


@register
class LengthInRange(_InRange):
    key = "length_in_range"
    label = "Length in range"
    description = (
        "1 when the response's length is within [min, max], else 0. Length in Unicode code "
        "points after NFC (an emoji with modifiers counts as several); numbers and JSON "
        "values are measured as their JSON text."
    )
    unit = "characters"

    def measure(self, text: str) -> int:
        return len(text)


@register
class WordCountInRange(_InRange):
    key = "word_count_in_range"
    label = "Word count in range"
    description = (
        "1 when the response's word count is within [min, max], else 0. Words are separated "
        "by whitespace, so unspaced Chinese or Japanese text counts as one word per run."
    )
    unit = "words"

    def measure(self, text: str) -> int:
        return len(text.split())
