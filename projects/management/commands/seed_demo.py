from django.core.management.base import BaseCommand

from projects.demo import DEMO_PASSWORD, DEMO_USERNAME, seed_demo


class Command(BaseCommand):
    help = "Create the demo user and project (idempotent)."

    def handle(self, *args, **options):
        project, lines = seed_demo()
        for line in lines:
            self.stdout.write(f"  {line}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo project ready (project_id {project.pk}). "
                f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}"
            )
        )
