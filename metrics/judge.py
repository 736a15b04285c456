"""LLM-as-judge metrics: a rubric prompt over the metric's named inputs, sent to an
OpenAI-compatible ``/chat/completions`` endpoint; the reply is read strictly by
``metrics.judge_parsing`` (one JSON object with a numeric score in range, never a number from
prose). The call goes through ``evalsite.outbound`` (guarded connections; timeouts, 429
honouring Retry-After and 5xx retried with backoff); anything else becomes
``error_description``, never a score. The API key is masked wherever the reply echoes it.

Presets: correctness against ground truth, faithfulness to context, answer relevancy, and a
G-Eval style custom criteria + steps rubric.
"""

from __future__ import annotations

from typing import Any

import httpx
from django.core.exceptions import ValidationError

from evalsite.outbound import calls, guard, secrets
from evalsite.outbound.templating import render_text, template_variables
from metrics.judge_parsing import parse_judge_reply
from metrics.params import Param
from metrics.registry import Implementation, inp, register
from metrics.scoring import MetricOutcome
from traces.span_metrics import PROMPT_VARIABLES, prompt_values

BUILTIN_VARIABLES = ("score_min", "score_max", "criteria", "steps")
SYSTEM_PROMPT = (
    "You are a strict, fair evaluation judge. Answer with only a JSON object of the form "
    '{"score": <number from {score_min} to {score_max}>, "reasoning": "<short justification>"}'
    " and nothing else."
)
PRESETS: dict[str, dict[str, Any]] = {
    "correctness": {
        "label": "Correctness against ground truth",
        "category": "METRIC_CATEGORY_CORRECTNESS",
        "inputs": [
            inp("question", "The question asked.", False),
            inp("expected", "The ground-truth answer."),
            inp("response", "The answer to judge."),
        ],
        "prompt": (
            "Judge whether the response is factually correct and complete compared with the "
            "ground truth.\n\nQuestion: {{question}}\nGround truth: {{expected}}\n"
            "Response: {{response}}\n\nScore from {{score_min}} (wrong or contradicting the "
            "ground truth) to {{score_max}} (fully correct and complete)."
        ),
    },
    "faithfulness": {
        "label": "Faithfulness to context",
        "category": "METRIC_CATEGORY_CONTEXT_QUALITY",
        "metric_type": "METRIC_TYPE_RAG_AND_TOOL",
        "inputs": [
            inp("question", "The question asked.", False),
            inp("context", "The retrieved context the answer must rely on."),
            inp("response", "The answer to judge."),
        ],
        "prompt": (
            "Judge whether every claim in the response is supported by the context. Claims "
            "not found in the context count against the response, even when true.\n\n"
            "Context:\n{{context}}\n\nQuestion: {{question}}\nResponse: {{response}}\n\n"
            "Score from {{score_min}} (mostly unsupported) to {{score_max}} (fully supported)."
        ),
    },
    "answer_relevancy": {
        "label": "Answer relevancy",
        "category": "METRIC_CATEGORY_USER_OUTCOMES",
        "inputs": [
            inp("question", "The question asked."),
            inp("response", "The answer to judge."),
        ],
        "prompt": (
            "Judge how directly and completely the response addresses the question, ignoring "
            "whether it is factually correct.\n\nQuestion: {{question}}\n"
            "Response: {{response}}\n\nScore from {{score_min}} (off-topic) to {{score_max}} "
            "(fully relevant, nothing superfluous)."
        ),
    },
    "g_eval": {
        "label": "Custom criteria + steps (G-Eval)",
        "category": "METRIC_CATEGORY_CORRECTNESS",
        "inputs": [
            inp("question", "The question asked.", False),
            inp("response", "The answer to judge."),
        ],
        "prompt": (
            "Evaluate the response against the criteria below, following the evaluation "
            "steps in order.\n\nCriteria:\n{{criteria}}\n\nEvaluation steps:\n{{steps}}\n\n"
            "Question: {{question}}\nResponse: {{response}}\n\nScore from {{score_min}} "
            "(does not meet the criteria) to {{score_max}} (fully meets them)."
        ),
    },
}
# A rubric over one trace span (bound with a span_type): the input ``span`` is filled by the
# engine for each span of that type; its parts are these variables (traces.span_metrics).
SPAN_VARIABLES = PROMPT_VARIABLES
PRESETS["span_quality"] = {
    "label": "Span quality (per span: bind with a span type)",
    "category": "METRIC_CATEGORY_MODEL_FIT",
    "inputs": [
        inp("span", "One trace span (filled by the engine for each span of the bound type)."),
        inp("question", "The user's question (e.g. the trace's input).", False),
    ],
    "prompt": (
        "Judge one step of an AI agent's run: did this {{span_type}} step named {{span_name}} "
        "do its job well for the user's question?\n\nQuestion: {{question}}\n"
        "Step input: {{span_input}}\nStep output: {{span_output}}\nStatus: {{span_status}}\n"
        "Tool called: {{tool_name}} with arguments {{tool_arguments}}\n"
        "Retrieved chunks:\n{{retriever_chunks}}\n\nScore from {{score_min}} (wrong, failed "
        "or useless) to {{score_max}} (correct and useful)."
    ),
}
DEFAULT_STEPS = (
    "1. Read the criteria carefully.\n2. Read the response and check it against each "
    "criterion.\n3. Decide the score from how many criteria are met and how well."
)


NOT_PROVIDED = "(not provided)"


def render(template: str, values: dict[str, Any]) -> str:
    """The rubric with its variables filled (the outbound layer's one rendering rule; an
    input that was not given reads "(not provided)")."""
    return render_text(template, values, missing=NOT_PROVIDED)


@register
class LlmJudge(Implementation):
    key = "llm_judge"
    label = "LLM as judge"
    description = "A rubric prompt sent to an OpenAI-compatible model; score plus reasoning."
    user_inputs = True
    is_async = True
    params = (
        Param(
            "preset",
            "choice",
            default="custom",
            choices=("custom", *PRESETS),
            help="A ready rubric, or custom to write your own prompt.",
        ),
        Param("base_url", "str", required=True, help="e.g. https://api.openai.com/v1"),
        Param("model", "str", required=True),
        Param("api_key", "secret", help='Stored encrypted; or {"env": "NAME"}.'),
        Param("prompt", "text", help="Rubric with {{input_name}} variables."),
        Param("criteria", "text", help="G-Eval: what a good response does."),
        Param("steps", "text", help="G-Eval: evaluation steps (optional)."),
        Param("score_min", "float", default=0.0),
        Param("score_max", "float", default=1.0),
        Param("temperature", "float", default=0.0, min=0, max=2),
        Param("timeout_s", "float", default=30.0, min=0.1, max=600),
        Param("max_retries", "int", default=2, min=0, max=10),
    )

    @classmethod
    def clean(cls, raw_params: Any, raw_inputs: Any = None) -> tuple[dict, list[dict]]:
        preset = raw_params.get("preset") if isinstance(raw_params, dict) else None
        if not raw_inputs and preset in PRESETS:
            raw_inputs = [dict(item) for item in PRESETS[preset]["inputs"]]
        elif not raw_inputs and isinstance(raw_params.get("prompt"), str):
            # A custom rubric declares the variables it uses; the span variables are all
            # parts of one input, span (which makes the judge a span-level metric).
            raw_inputs = []
            for name in template_variables(raw_params["prompt"]):
                if name in SPAN_VARIABLES:
                    name = "span"
                if name not in BUILTIN_VARIABLES and all(i["name"] != name for i in raw_inputs):
                    raw_inputs.append({"name": name, "description": "", "required": True})
        return super().clean(raw_params, raw_inputs)

    @classmethod
    def validate(cls, params: dict, inputs: list[dict]) -> None:
        errors: dict[str, list[str]] = {}
        preset = params.get("preset", "custom")
        template = params.get("prompt") or PRESETS.get(preset, {}).get("prompt", "")
        if not template.strip():
            errors["params.prompt"] = ["Write the rubric prompt (or choose a preset)."]
        declared = {item["name"] for item in inputs}
        known = declared | set(BUILTIN_VARIABLES)
        if "span" in declared:
            known |= set(SPAN_VARIABLES)
        unknown = [v for v in template_variables(template) if v not in known]
        if unknown:
            errors["params.prompt"] = [
                "Unknown variable(s) "
                + ", ".join("{{" + v + "}}" for v in unknown)
                + f"; declared inputs: {', '.join(sorted(declared)) or 'none'}."
            ]
        if preset == "g_eval" and not (params.get("criteria") or "").strip():
            errors["params.criteria"] = ["G-Eval needs the criteria."]
        if params["score_min"] >= params["score_max"]:
            errors["params.score_max"] = ["Must be greater than score_min."]
        try:
            guard.check_url(params["base_url"])
        except ValidationError as exc:
            errors["params.base_url"] = exc.messages
        if errors:
            raise ValidationError(errors)

    @classmethod
    def value_range(cls, params: dict) -> tuple[float | None, float | None]:
        return params.get("score_min", 0.0), params.get("score_max", 1.0)

    @classmethod
    def build(cls, params: dict, *, inputs: list[dict]) -> LlmJudge:
        guard.check_url(params["base_url"], resolve_host=False)
        judge = cls(params, inputs)
        judge.api_key = secrets.resolve(params["api_key"]) if params.get("api_key") else ""
        return judge

    def setup(self) -> None:
        preset = self.p.get("preset", "custom")
        self.template = self.p.get("prompt") or PRESETS.get(preset, {}).get("prompt", "")
        self.score_min = float(self.p.get("score_min", 0.0))
        self.score_max = float(self.p.get("score_max", 1.0))
        self.url = self.p["base_url"].rstrip("/") + "/chat/completions"
        self.fixed = {
            "score_min": self.score_min,
            "score_max": self.score_max,
            "criteria": self.p.get("criteria") or "",
            "steps": self.p.get("steps") or DEFAULT_STEPS,
        }
        self.system = SYSTEM_PROMPT.replace("{score_min}", f"{self.score_min:g}").replace(
            "{score_max}", f"{self.score_max:g}"
        )
        self.api_key = ""

    def request_body(self, inputs: dict) -> dict:
        if "span" in inputs:  # a span-level judge: the span's parts are variables too
            inputs = {**prompt_values(inputs["span"]), **inputs}
        return {
            "model": self.p["model"],
            "temperature": self.p.get("temperature", 0.0),
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": render(self.template, {**inputs, **self.fixed})},
            ],
        }

    def score(self, inputs: dict) -> MetricOutcome:  # pragma: no cover - Scorer uses ascore
        raise NotImplementedError("LLM judges are scored with ascore().")

    async def ascore(self, inputs: dict, *, client: httpx.AsyncClient) -> MetricOutcome:
        return self.scrubbed(await self._ascore(inputs, client=client))

    async def _ascore(self, inputs: dict, *, client: httpx.AsyncClient) -> MetricOutcome:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            response = await calls.send(
                client,
                method="POST",
                url=self.url,
                headers=headers,
                json=self.request_body(inputs),
                timeout_s=float(self.p.get("timeout_s", 30.0)),
                max_retries=int(self.p.get("max_retries", 2)),
            )
        except calls.CallFailed as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return MetricOutcome.error(f"Judge endpoint refused the request: {exc}")
            return MetricOutcome.error(f"Judge call: {exc}")
        reply = reply_json(response)
        return with_usage(self.outcome_from(response, reply), reply)

    def scrubbed(self, outcome: MetricOutcome) -> MetricOutcome:
        """The outcome with the judge's API key masked wherever the reply echoed it."""
        if not self.api_key:
            return outcome
        values = [self.api_key]
        outcome.error_description = secrets.scrub(outcome.error_description, values)
        outcome.reasoning = secrets.scrub(outcome.reasoning, values)
        outcome.string_value = secrets.scrub(outcome.string_value, values)
        outcome.details = secrets.scrub(outcome.details, values)
        return outcome

    def outcome_from(self, response: httpx.Response, reply) -> MetricOutcome:
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return MetricOutcome.error(
                f"Judge reply is not an OpenAI chat completion: {response.text[:300]}"
            )
        if not isinstance(content, str) or not content.strip():
            return MetricOutcome.error("Judge reply is empty.")
        reading = parse_judge_reply(
            content, score_min=self.score_min, score_max=self.score_max, redact=(self.api_key,)
        )
        if reading.error:
            return MetricOutcome.error(reading.error)
        return MetricOutcome.number(reading.score, reading.reasoning)


def reply_json(response: httpx.Response):
    """The judge's reply decoded once (None when it is not JSON, or nested too deep to
    decode): both the score and the token usage are read from it."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def with_usage(outcome: MetricOutcome, reply) -> MetricOutcome:
    """The judge call's token usage on its outcome (a reply without a valid score was still
    paid for), from the OpenAI ``usage`` block."""
    outcome.called = True
    usage = reply.get("usage") if isinstance(reply, dict) else None
    if isinstance(usage, dict):
        for source, target in (
            ("prompt_tokens", "input_tokens"),
            ("completion_tokens", "output_tokens"),
        ):
            value = usage.get(source)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(outcome, target, value)
    return outcome
