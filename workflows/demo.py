"""Demo seed: the offline demo agent registered twice, as a Python workflow and over HTTP
(served by this app at /demo-agent/answer). Idempotent: looks up by name first."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from workflows import services
from workflows.conf import public_url
from workflows.models import Workflow, WorkflowKind

INPUTS = [
    {"name": "question", "description": "A question about Acme Robotics.", "required": True},
    # Optional, so that seed 000's create body (question + context) works as written.
    {
        "name": "context",
        "description": "Optional passage to read before the handbook.",
        "required": False,
    },
]
OUTPUTS = [{"name": "answer", "description": "The agent's answer."}]
PYTHON_NAME = "Acme support agent (Python)"
HTTP_NAME = "Acme support agent (HTTP)"


def demo_workflows() -> list[dict]:
    return [
        {
            "name": PYTHON_NAME,
            "kind": WorkflowKind.PYTHON,
            "description": "Answers questions from the bundled Acme Robotics handbook, offline.",
            "config": {"callable": "workflows.demo_agent.answer_question", "max_concurrency": 8},
        },
        {
            "name": HTTP_NAME,
            "kind": WorkflowKind.HTTP,
            "description": "The same demo agent called over HTTP at this app's "
            "/demo-agent/answer endpoint.",
            "config": {
                "url": f"{public_url()}/demo-agent/answer",
                "method": "POST",
                "body_template": {"question": "{{question}}", "context": "{{context}}"},
                "output_paths": {"answer": "$.answer"},
                "input_tokens_path": "$.usage.input_tokens",
                "output_tokens_path": "$.usage.output_tokens",
                "chunks_path": "$.chunks",
                "spans_path": "$.spans",
                "timeout_s": 10,
                "max_retries": 2,
                "max_concurrency": 8,
            },
        },
    ]


def seed(*, project, user) -> list[str]:
    lines = []
    for spec in demo_workflows():
        existing = Workflow.objects.filter(project=project, name=spec["name"]).first()
        try:
            if existing is None:
                services.workflow_create(
                    project=project, user=user, inputs=INPUTS, outputs=OUTPUTS, **spec
                )
                lines.append(f"created workflow {spec['name']}")
                continue
            latest = existing.latest_version()
            if latest is None or existing.is_deleted or "context" in latest.input_names():
                continue
            # A demo seeded before the agent took ``context``: give it a version that does.
            config = {**latest.config}
            if spec["kind"] == WorkflowKind.HTTP:
                config["body_template"] = spec["config"]["body_template"]
            services.workflow_version_create(
                workflow=existing, user=user, config=config, inputs=INPUTS, outputs=OUTPUTS
            )
            lines.append(f"workflow {spec['name']}: new version with the optional context input")
        except ValidationError as exc:
            # The HTTP demo agent lives on this server's loopback address, which outbound
            # calls refuse unless EVALSITE_ALLOW_LOOPBACK is on or its port is listed in
            # EVALSITE_ALLOW_LOOPBACK_PORTS (scripts/run lists this server's port).
            lines.append(f"skipped workflow {spec['name']}: {' '.join(exc.messages)}")
    return lines
