from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from projects.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print it on its own line (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="CLI key", help="A label for the key.")

    def handle(self, *args, username, name, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"No user named {username!r}.") from exc
        _, raw = api_key_create(user=user, name=name)
        self.stdout.write(raw)
