"""The demo project a newcomer logs into. Seeding is idempotent: every step looks up
what it would create first, so running it again creates nothing twice.

Each app may add to the demo through a ``<app>.demo`` module with a
``seed(*, project, user) -> list[str]`` function that returns lines to print.
"""

from __future__ import annotations

import importlib

from django.contrib.auth import get_user_model
from django.db import transaction

from projects.models import Membership, Project, Role

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - a documented local demo login
DEMO_PROJECT_SLUG = "demo"
APP_SEEDERS = ["datasets.demo", "workflows.demo", "metrics.demo", "runs.demo", "traces.demo"]


def seed_demo() -> tuple[Project, list[str]]:
    User = get_user_model()
    lines: list[str] = []
    with transaction.atomic():
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = User.objects.create_user(
                username=DEMO_USERNAME, password=DEMO_PASSWORD, email="demo@example.com"
            )
            user.is_staff = True
            user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
            lines.append("created user demo")
        project, created = Project.objects.get_or_create(
            slug=DEMO_PROJECT_SLUG,
            defaults={
                "name": "Demo project",
                "description": "A ready-made project to try evalsite: datasets, agents and "
                "metrics are already registered.",
            },
        )
        if created:
            lines.append("created project Demo project")
        Membership.objects.get_or_create(user=user, project=project, defaults={"role": Role.ADMIN})
    for module_name in APP_SEEDERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        with transaction.atomic():
            lines.extend(module.seed(project=project, user=user) or [])
    return project, lines
