"""Each text and structured metric against its reference implementation on generated cases
(at least 60 per metric: ASCII, Unicode in several scripts, NFC and NFD forms, empty texts,
punctuation, numbers), plus the issue 11 findings as tests.

References: the official SQuAD 2.0 evaluation script's rules (restated below) and, for
non-ASCII text, the MLQA script's Unicode extension of them; rouge-score (its own tokenizer
on ASCII; on other scripts its scorer over the known tokens); sacrebleu; rapidfuzz;
jsonschema; the json module; exact decimal arithmetic for numeric closeness.
"""

from __future__ import annotations

import collections
import json
import random
import re
import string
import sys
import unicodedata
from decimal import Decimal
from fractions import Fraction

import pytest
import sacrebleu
from rapidfuzz.distance import Levenshtein
from rouge_score import rouge_scorer

from metrics.registry import get_implementation
from tests.metrics.helpers import outcome, value

CASES = 72  # per metric


# --- word pools ---------------------------------------------------------------------------
ASCII_WORDS = [
    "the",
    "a",
    "an",
    "cat",
    "sat",
    "on",
    "mat",
    "Paris",
    "France",
    "capital",
    "42",
    "3.14",
    "1,000",
    "year's",
    "two-year",
    "warranty",
    "running",
    "runs",
    "ran",
    "quickly",
    "answer",
    "is",
    "was",
    "not",
    "New",
    "York",
    "O'Neil",
    "e-mail",
    "x",
    "y",
    "z",
    "don't",
]
UNICODE_WORDS = {
    "cyrillic": ["Москва", "столица", "России", "кошка", "сидит", "на", "ковре"],
    "greek": ["Αθήνα", "πρωτεύουσα", "Ελλάδας", "λόγος", "γάτα", "κάθεται"],
    "arabic": ["القاهرة", "عاصمة", "مصر", "القطة", "تجلس", "على", "السجادة"],
    "latin": ["café", "naïve", "Zürich", "façade", "São", "Paulo", "Ångström", "Straße"],
    "japanese": ["東京", "日本", "首都", "ねこ", "カタカナ", "すし"],
    "chinese": ["北京", "中国", "首都", "猫", "坐在", "垫子"],
    "hindi": ["दिल्ली", "भारत", "राजधानी"],
    "hangul": ["서울", "한국", "수도"],
}
PUNCTUATION = list(string.punctuation) + ["«", "»", "。", "、", "—", "…", "¿", "¡", "“", "”"]


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _sentence(rng: random.Random, *, script: str | None = None, size: int | None = None) -> str:
    size = rng.randint(0, 9) if size is None else size
    pool = ASCII_WORDS if script is None else UNICODE_WORDS[script] + ASCII_WORDS[:6]
    words = []
    for _ in range(size):
        word = rng.choice(pool)
        roll = rng.random()
        if roll < 0.15:
            word = word.upper()
        elif roll < 0.25:
            word = word + rng.choice(PUNCTUATION)
        elif roll < 0.3:
            word = _nfd(word)
        words.append(word)
    text = " ".join(words)
    if rng.random() < 0.2:
        text = rng.choice(["  ", "\n", "\t"]) + text + rng.choice(["", " ", "!", "?", "."])
    return text


def _pairs(seed: int, count: int = CASES, *, ascii_only: bool = False):
    """(prediction, reference, script) triples: about half ASCII, the rest spread over the
    other scripts; some empty or punctuation-only; some identical pairs."""
    rng = random.Random(seed)
    scripts = [None] if ascii_only else [None, None, *UNICODE_WORDS]
    cases = []
    for index in range(count):
        script = scripts[index % len(scripts)]
        reference = _sentence(rng, script=script)
        kind = index % 6
        if kind == 0:
            prediction = reference
        elif kind == 1:
            prediction = _nfd(reference) if rng.random() < 0.5 else reference.upper()
        elif kind == 2:
            prediction = rng.choice(["", " ", "...", "!?", "the", "a an"])
        else:
            prediction = _sentence(rng, script=script)
        cases.append((prediction, reference, script))
    return cases


# --- SQuAD 2.0 reference rules, written from the evaluation script's specification --------
# Lower-case, drop ASCII punctuation, drop the articles a/an/the, split on whitespace; F1 over
# the multiset of tokens; when either side has no tokens, 1 if both have none, else 0.
_ASCII_PUNCT = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b", re.UNICODE)


def official_normalize_answer(text):
    text = _ARTICLES.sub(" ", text.lower().translate(_ASCII_PUNCT))
    return " ".join(text.split())


def official_get_tokens(text):
    return official_normalize_answer(text).split() if text else []


def official_compute_exact(gold, prediction):
    return int(official_normalize_answer(gold) == official_normalize_answer(prediction))


def official_compute_f1(gold, prediction, get_tokens=official_get_tokens):
    expected, predicted = get_tokens(gold), get_tokens(prediction)
    if not expected or not predicted:
        return int(expected == predicted)
    overlap = sum((collections.Counter(expected) & collections.Counter(predicted)).values())
    if not overlap:
        return 0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


# --- MLQA's Unicode extension (punctuation set over all code points, CJK per character) ---
MLQA_PUNCT = {
    chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")
}.union(string.punctuation)


def _spaceless(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK UNIFIED IDEOGRAPH", "HIRAGANA", "KATAKANA"))


def mlqa_tokens(s):
    text = _nfc(s).lower()
    text = "".join(ch for ch in text if ch not in MLQA_PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    tokens = []
    for word in text.split():
        piece = ""
        for char in word:
            if _spaceless(char):
                if piece:
                    tokens.append(piece)
                    piece = ""
                tokens.append(char)
            else:
                piece += char
        if piece:
            tokens.append(piece)
    return tokens


def reference_f1(prediction, truth):
    if prediction.isascii() and truth.isascii():
        return official_compute_f1(truth, prediction)
    return official_compute_f1(truth, prediction, get_tokens=mlqa_tokens)


def reference_exact(prediction, truth):
    if prediction.isascii() and truth.isascii():
        return official_compute_exact(truth, prediction)
    return int(mlqa_tokens(truth) == mlqa_tokens(prediction))


@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(11))
def test_squad_f1_equals_the_official_script(prediction, truth, script):
    got = value("squad_f1", {"response": prediction, "expected": truth})
    assert got == pytest.approx(reference_f1(prediction, truth), abs=1e-12)


@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(12))
def test_squad_exact_match_equals_the_official_script(prediction, truth, script):
    got = value("squad_exact_match", {"response": prediction, "expected": truth})
    assert got == reference_exact(prediction, truth)


def test_squad_f1_follows_the_squad_2_empty_answer_rule_and_says_so():
    assert value("squad_f1", {"response": "", "expected": "the"}) == 1.0  # both no tokens
    assert value("squad_f1", {"response": "...", "expected": ""}) == 1.0
    assert value("squad_f1", {"response": "", "expected": "Paris"}) == 0.0
    assert value("squad_f1", {"response": "Paris", "expected": "a"}) == 0.0
    description = get_implementation("squad_f1").description
    assert "SQuAD 2.0" in description and "empty" in description.lower()
    assert "SQuAD" in get_implementation("squad_exact_match").description


def test_token_f1_splits_unspaced_japanese_and_reads_other_scripts():
    partial = value("squad_f1", {"response": "東京は日本の首都", "expected": "日本の首都は東京"})
    assert partial == 1.0  # the same characters, in another order
    assert value("squad_f1", {"response": "Москва, столица!", "expected": "москва"}) == (
        pytest.approx(2 / 3)
    )
    # NFD and NFC forms of the same text are the same answer
    assert value("squad_exact_match", {"response": _nfd("Café"), "expected": "café"}) == 1.0


# --- ROUGE ---------------------------------------------------------------------------------
class _KnownTokens:
    """rouge-score's scorer over tokens we already know (the reference for other scripts)."""

    def tokenize(self, text):
        return text.split()


def _unicode_rouge_case(rng: random.Random, script: str):
    """(prediction text, reference text, prediction tokens, reference tokens)."""

    def render(size):
        tokens, parts = [], []
        for _ in range(size):
            word = rng.choice(UNICODE_WORDS[script] + ["and", "42"])
            shown = word.upper() if rng.random() < 0.2 else word
            shown = _nfd(shown) if rng.random() < 0.2 else shown
            if any(_spaceless(c) for c in word):
                tokens.extend(word)  # one token per character
            else:
                tokens.append(_nfc(shown).lower())
            parts.append(shown + (rng.choice(PUNCTUATION) if rng.random() < 0.3 else ""))
        return " ".join(parts), tokens

    prediction, prediction_tokens = render(rng.randint(0, 8))
    if rng.random() < 0.3:
        reference, reference_tokens = prediction, list(prediction_tokens)
    else:
        reference, reference_tokens = render(rng.randint(1, 8))
    return prediction, reference, prediction_tokens, reference_tokens


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(21, ascii_only=True))
@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score_on_ascii(prediction, truth, script, use_stemmer):
    reference = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer)
    expected = reference.score(truth, prediction)
    for rouge_type in ROUGE_TYPES:
        for measure in ("fmeasure", "precision", "recall"):
            got = value(
                "rouge",
                {"response": prediction, "expected": truth},
                rouge_type=rouge_type,
                measure=measure,
                use_stemmer=use_stemmer,
            )
            assert got == getattr(expected[rouge_type], measure), (rouge_type, measure)


UNICODE_ROUGE = [
    _unicode_rouge_case(random.Random(3000 + i), list(UNICODE_WORDS)[i % len(UNICODE_WORDS)])
    for i in range(CASES)
]


@pytest.mark.parametrize(("prediction", "truth", "p_tokens", "t_tokens"), UNICODE_ROUGE)
def test_rouge_on_other_scripts_equals_rouge_score_over_the_words(
    prediction, truth, p_tokens, t_tokens
):
    reference = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=_KnownTokens())
    expected = reference.score(" ".join(t_tokens), " ".join(p_tokens))
    for rouge_type in ROUGE_TYPES:
        got = value("rouge", {"response": prediction, "expected": truth}, rouge_type=rouge_type)
        assert got == pytest.approx(expected[rouge_type].fmeasure, abs=1e-12), rouge_type


@pytest.mark.parametrize(
    "text",
    [
        "東京は日本の首都です。",
        "القاهرة هي عاصمة مصر",
        "Москва — столица России.",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
        "दिल्ली भारत की राजधानी है।",
    ],
)
@pytest.mark.parametrize("rouge_type", ROUGE_TYPES)
def test_rouge_of_identical_non_latin_text_is_one(text, rouge_type):
    assert value("rouge", {"response": text, "expected": text}, rouge_type=rouge_type) == 1.0
    nfd = value("rouge", {"response": _nfd(text), "expected": text}, rouge_type=rouge_type)
    assert nfd == 1.0


# --- sacrebleu and rapidfuzz (inputs NFC-normalised) ---------------------------------------
@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(31))
@pytest.mark.parametrize("tokenize", ["13a", "intl"])
def test_bleu_equals_sacrebleu(prediction, truth, script, tokenize):
    expected = sacrebleu.sentence_bleu(_nfc(prediction), [_nfc(truth)], tokenize=tokenize).score
    got = value("bleu", {"response": prediction, "expected": truth}, tokenize=tokenize)
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(32))
@pytest.mark.parametrize("word_order", [0, 2])
def test_chrf_equals_sacrebleu(prediction, truth, script, word_order):
    expected = sacrebleu.sentence_chrf(_nfc(prediction), [_nfc(truth)], word_order=word_order).score
    got = value("chrf", {"response": prediction, "expected": truth}, word_order=word_order)
    assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(33))
def test_levenshtein_equals_rapidfuzz(prediction, truth, script):
    expected = Levenshtein.normalized_similarity(_nfc(prediction), _nfc(truth))
    got = value("levenshtein_similarity", {"response": prediction, "expected": truth})
    assert got == pytest.approx(expected, abs=1e-12)
    if _nfc(prediction) == _nfc(truth):
        assert got == 1.0  # NFD and NFC forms are the same text


def test_exact_match_and_contains_compare_nfc_text():
    assert value("exact_match", {"response": _nfd("Zürich"), "expected": "Zürich"}) == 1.0
    assert value("contains", {"response": _nfd("in Zürich."), "expected": "Zürich"}) == 1.0
    assert value("exact_match", {"response": "STRASSE", "expected": "straße"}, case_sensitive=False)
    assert value("length_in_range", {"response": _nfd("é")}, min=1, max=1) == 1.0


# --- JSON ---------------------------------------------------------------------------------
def _random_json(rng: random.Random, depth: int = 0):
    kind = rng.randint(0, 8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-5, 5)
    if kind == 3:
        return rng.choice([0.5, -2.25, 1e-7, 3.0, 1e300])
    if kind == 4:
        return rng.choice(["", "x", "Zürich", _nfd("Zürich"), "東京", "a\nb", "\u2028"])
    if kind == 5:
        return rng.choice([0, 1, "1", "true"])
    if kind in (6, 7):
        return {
            rng.choice(["a", "b", "c", "ключ", "키"]): _random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 3))
        }
    return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def _dump_variant(rng: random.Random, data) -> str:
    if isinstance(data, dict) and rng.random() < 0.5:
        data = dict(reversed(list(data.items())))
    return json.dumps(data, indent=rng.choice([None, 2]), ensure_ascii=rng.random() < 0.5)


def _swap_types(rng: random.Random, data):
    """The same shape with booleans turned into numbers and back (or ints into floats)."""
    if isinstance(data, bool):
        return int(data)
    if isinstance(data, int) and data in (0, 1) and rng.random() < 0.5:
        return bool(data)
    if isinstance(data, int):
        return float(data)
    if isinstance(data, list):
        return [_swap_types(rng, v) for v in data]
    if isinstance(data, dict):
        return {k: _swap_types(rng, v) for k, v in data.items()}
    return data


def _canonical(data):
    """A type-tagged, order-free form built with the json module: the reference equality."""

    def tag(v):
        if isinstance(v, bool):
            return ["bool", v]
        if isinstance(v, int | float):
            return ["number", str(Fraction(v))]
        if isinstance(v, str):
            return ["string", _nfc(v)]
        if v is None:
            return ["null"]
        if isinstance(v, list):
            return ["array", [tag(x) for x in v]]
        return ["object", {_nfc(k): tag(x) for k, x in v.items()}]

    return json.dumps(tag(data), sort_keys=True)


JSON_EQUAL_CASES = []
for _i in range(CASES):
    _rng = random.Random(4000 + _i)
    _data = _random_json(_rng)
    _roll = _i % 4
    if _roll == 0:
        _other = json.loads(_dump_variant(_rng, _data))
    elif _roll == 1:
        _other = _swap_types(_rng, _data)
    elif _roll == 2:
        _other = _random_json(_rng)
    else:
        _other = _data
    JSON_EQUAL_CASES.append((_dump_variant(_rng, _other), _dump_variant(_rng, _data)))


@pytest.mark.parametrize(("response", "expected"), JSON_EQUAL_CASES)
def test_json_equal_matches_a_type_aware_reference(response, expected):
    want = float(_canonical(json.loads(response)) == _canonical(json.loads(expected)))
    assert value("json_equal", {"response": response, "expected": expected}) == want
    # the same when the values arrive already decoded (a decoded string would be read as
    # JSON text and a decoded null as a missing input, so those stay text)
    decoded = {"response": json.loads(response), "expected": json.loads(expected)}
    if not any(isinstance(v, str) or v is None for v in decoded.values()):
        assert value("json_equal", decoded) == want


def test_json_equal_booleans_are_not_numbers():
    assert value("json_equal", {"response": "true", "expected": "1"}) == 0.0
    assert value("json_equal", {"response": "[false]", "expected": "[0]"}) == 0.0
    assert value("json_equal", {"response": {"ok": True}, "expected": {"ok": 1}}) == 0.0
    assert value("json_equal", {"response": "null", "expected": "0"}) == 0.0
    assert value("json_equal", {"response": "1.0", "expected": "1"}) == 1.0
    assert value("json_equal", {"response": '{"b":1,"a":[1,2]}', "expected": '{"a":[1,2],"b":1}'})
    assert value("json_equal", {"response": '"Z\\u00fcrich"', "expected": f'"{_nfd("Zürich")}"'})


def _strict_reference(text: str) -> bool:
    def refuse(name):
        raise ValueError(name)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


JSON_VALID_CASES = []
for _i in range(CASES):
    _rng = random.Random(5000 + _i)
    _text = _dump_variant(_rng, _random_json(_rng))
    _mutation = _i % 8
    if _mutation == 1:
        _text = _text.replace("0.5", "NaN").replace("3.0", "Infinity") or "NaN"
    elif _mutation == 2:
        _text = "[" + _rng.choice(["NaN", "Infinity", "-Infinity", "1,", "'x'", "1 2"]) + "]"
    elif _mutation == 3:
        _text = _rng.choice(["", "   ", "{", "// c\n1", "{'a': 1}", "[1,]", "tru", "01"])
    elif _mutation == 4:
        _text = "  \n" + _text + "\t "
    JSON_VALID_CASES.append(_text)


@pytest.mark.parametrize("text", JSON_VALID_CASES)
def test_json_valid_equals_the_json_module_without_its_extensions(text):
    assert value("json_valid", {"response": text}) == float(_strict_reference(text))


def test_json_valid_refuses_nan_and_infinity():
    for text in ("NaN", "Infinity", "-Infinity", '{"x": NaN}', "[1e999]"):
        assert value("json_valid", {"response": text}) == 0.0, text
    assert value("json_valid", {"response": {"x": float("nan")}}) == 0.0
    assert value("json_valid", {"response": '{"x": 1e308}'}) == 1.0


# --- numeric closeness ----------------------------------------------------------------------
def _render_number(rng: random.Random, number: Decimal) -> str:
    roll = rng.random()
    if roll < 0.25 and abs(number) >= 1000 and number == number.to_integral_value():
        return f"{int(number):,}"
    if roll < 0.4:
        return f"  {number}  "
    if roll < 0.5:
        return f"{number:e}"
    return str(number)


def _numeric_cases():
    cases = []
    for i in range(CASES):
        rng = random.Random(6000 + i)
        expected = Decimal(rng.choice([0, 1, -1, 12, 1000, 123456, -98765]))
        expected += Decimal(rng.randint(-999, 999)) / Decimal(rng.choice([1, 10, 1000]))
        spread = rng.choice([Decimal(0), Decimal("0.001"), Decimal("0.05"), Decimal(2)])
        response = expected * (1 + spread * Decimal(rng.uniform(-1, 1)).quantize(Decimal("1e-6")))
        response = response.quantize(Decimal("1e-9"))
        params = rng.choice(
            [{"rel_tol": 0.01, "abs_tol": 1e-6}, {"rel_tol": 0.0, "abs_tol": 0.5}, {}]
        )
        cases.append((_render_number(rng, response), _render_number(rng, expected), params))
    return cases


def _reference_close(response: str, expected: str, params: dict) -> float:
    r = Decimal(response.strip().replace(",", ""))
    e = Decimal(expected.strip().replace(",", ""))
    allowed = max(
        Decimal(repr(params.get("abs_tol", 0.0))),
        Decimal(repr(params.get("rel_tol", 1e-9))) * abs(e),
    )
    return float(abs(r - e) <= allowed)


@pytest.mark.parametrize(("response", "expected", "params"), _numeric_cases())
def test_numeric_closeness_equals_exact_decimal_arithmetic(response, expected, params):
    got = value("numeric_closeness", {"response": response, "expected": expected}, **params)
    assert got == _reference_close(response, expected, params)


def test_numeric_closeness_tolerance_is_relative_to_the_expected_value():
    # 10% of the expected 100 is 10: 111 is outside (the larger value's 10% would be 11.1)
    inputs = {"response": 111, "expected": 100}
    assert value("numeric_closeness", inputs, rel_tol=0.1) == 0.0
    assert value("numeric_closeness", {"response": 90, "expected": 100}, rel_tol=0.1) == 1.0
    assert value("numeric_closeness", {"response": 89.9, "expected": 100}, rel_tol=0.1) == 0.0
    assert "relative to the expected" in get_implementation("numeric_closeness").description


@pytest.mark.parametrize(
    "text", ["1,5", "1.234,5", "12,34", "1_000", "NaN", "inf", "12%", "$5", "", "five", "1e999"]
)
def test_numeric_closeness_refuses_text_that_is_not_a_plain_number(text):
    result = outcome("numeric_closeness", {"response": text, "expected": 15})
    assert result.number_value is None and "not a number" in result.error_description


def test_numeric_closeness_reads_thousands_separators_by_the_stated_rule():
    assert value("numeric_closeness", {"response": "1,234.5", "expected": 1234.5}) == 1.0
    assert value("numeric_closeness", {"response": " -12,000 ", "expected": -12000}) == 1.0
    booleans = outcome("numeric_closeness", {"response": True, "expected": 1})
    assert "boolean" in booleans.error_description


def test_every_builtin_description_states_its_edge_cases():
    from metrics.registry import implementations

    for key, implementation in implementations().items():
        if key in {"llm_judge", "custom_python"}:
            continue
        assert len(implementation.description) > 80, key


def test_the_database_builtins_carry_the_new_descriptions_without_new_versions(db):
    from metrics.models import Metric

    squad = Metric.objects.get(project=None, builtin_key="squad_f1")
    assert "SQuAD 2.0" in squad.description
    assert squad.latest_version().number == 1
    closeness = Metric.objects.get(project=None, builtin_key="numeric_closeness")
    assert "1,5" in closeness.description and closeness.latest_version().number == 1


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def _schema_cases():
    cases = []
    for i in range(CASES):
        rng = random.Random(7000 + i)
        instance = {"name": rng.choice(["", "Ada", "東京", _nfd("Zoë")])}
        if rng.random() < 0.6:
            instance["age"] = rng.choice([0, 41, -1, 2.5, "41", True, 1.0])
        if rng.random() < 0.4:
            instance["tags"] = rng.choice([[], ["a"], ["a", 1], "a"])
        if rng.random() < 0.15:
            instance["extra"] = 1
        if rng.random() < 0.1:
            del instance["name"]
        text = json.dumps(instance, ensure_ascii=rng.random() < 0.5)
        if i % 9 == 0:
            text = text.replace("41", "NaN")
        if i % 13 == 0:
            text = rng.choice(["", "[1,]", "{'name': 'x'}", "null", "[]"])
        cases.append(text)
    return cases


@pytest.mark.parametrize("text", _schema_cases())
def test_json_schema_valid_equals_jsonschema_on_strict_json(text):
    import jsonschema

    if _strict_reference(text):
        want = float(jsonschema.Draft202012Validator(SCHEMA).is_valid(json.loads(text)))
    else:
        want = 0.0
    assert value("json_schema_valid", {"response": text}, schema=SCHEMA) == want


@pytest.mark.parametrize(("prediction", "truth", "script"), _pairs(41))
@pytest.mark.parametrize("case_sensitive", [True, False])
def test_exact_match_equals_nfc_string_equality(prediction, truth, script, case_sensitive):
    def norm(text):
        text = _nfc(text).strip()
        return text if case_sensitive else text.casefold()

    got = value(
        "exact_match", {"response": prediction, "expected": truth}, case_sensitive=case_sensitive
    )
    assert got == float(norm(prediction) == norm(truth))
