"""Demo runs, so a newcomer's first screen shows results and a comparison: the Python demo
agent on the support questions (with workflow), and a dataset-only baseline on the same
dataset version that scores the retrieved passage itself as the answer. Both share Token F1,
so they compare side by side.

Runs are executed here, synchronously, by the real engine (planning and drainers called in
process), so the seed needs no worker. Idempotent: a run with the same name is kept.
"""

from __future__ import annotations

from datasets.demo import QA_NAME
from datasets.models import Dataset, VersionStatus
from metrics.catalogue import ensure_builtin_metrics
from metrics.models import Metric
from runs import services
from runs.engine import drainer, planning
from runs.models import EvaluationRun
from workflows.demo import PYTHON_NAME
from workflows.models import Workflow

WITH_AGENT = "Demo: Python agent on support questions"
DATASET_ONLY = "Demo: retrieved passage as the answer (dataset only)"
MAX_DRAINS = 20


def _builtin(key: str) -> Metric:
    metric = Metric.objects.filter(builtin_key=key, project__isnull=True).first()
    if metric is None:
        ensure_builtin_metrics()
        metric = Metric.objects.get(builtin_key=key, project__isnull=True)
    return metric


def _scored(metric_key: str, response: str) -> dict:
    return {
        "id": str(_builtin(metric_key).id),
        "input_transformer": {
            "selector": {"response": response, "expected": "$.dataset.ground_truth_answer"}
        },
    }


def execute_now(run: EvaluationRun) -> EvaluationRun:
    """Plan and drain ``run`` in this process until it finishes (the seed has no worker)."""
    planning.plan_run(run.id)
    for _ in range(MAX_DRAINS):
        drainer.drain_run(run.id)
        run.refresh_from_db()
        if run.is_finished:
            break
    return run


def seed(*, project, user) -> list[str]:
    dataset = Dataset.objects.filter(project=project, name=QA_NAME).first()
    agent = Workflow.objects.filter(project=project, name=PYTHON_NAME).first()
    if dataset is None or agent is None:
        return []
    version = dataset.versions.filter(status=VersionStatus.RELEASED).order_by("number").first()
    if version is None:
        return []
    f1 = str(_builtin("squad_f1").id)
    plans = [
        (
            WITH_AGENT,
            [
                {
                    "workflow": {
                        "id": str(agent.id),
                        "input_transformer": {"selector": {"question": "$.dataset.question"}},
                    },
                    "metrics": [
                        _scored("squad_f1", "$.workflow.answer"),
                        _scored("levenshtein_similarity", "$.workflow.answer"),
                    ],
                }
            ],
        ),
        (
            DATASET_ONLY,
            [
                {
                    "workflow": None,
                    "metrics": [
                        _scored("squad_f1", "$.dataset.context"),
                        _scored("levenshtein_similarity", "$.dataset.context"),
                    ],
                }
            ],
        ),
    ]
    lines = []
    # The dataset-only baseline first: the earlier run is the comparison's baseline.
    for name, config in reversed(plans):
        if EvaluationRun.objects.filter(project=project, name=name).exists():
            continue
        run = services.run_start(
            project=project,
            user=user,
            name=name,
            dataset_version_id=version.id,
            config=config,
            star_metric={"metric_id": f1, "threshold": 0.3},
        )
        run = execute_now(run)
        lines.append(f"ran {name}: {run.get_status_display().lower()}")
    return lines
