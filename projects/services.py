from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from projects.keys import generate_key
from projects.models import ApiKey, Membership, Project, Role

User = get_user_model()


@transaction.atomic
def project_create(*, name: str, owner, description: str = "", slug: str = "") -> Project:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Name is required."]})
    base = slugify(slug or name)[:90] or "project"
    candidate, n = base, 1
    while Project.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    project = Project.objects.create(name=name, slug=candidate, description=description)
    Membership.objects.create(user=owner, project=project, role=Role.ADMIN)
    return project


@transaction.atomic
def membership_set(*, project: Project, user, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": [f"Unknown role {role!r}."]})
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw secret, which is never stored or shown again."""
    name = (name or "").strip() or "API key"
    if len(name) > 100:
        raise ValidationError({"name": ["Name must be at most 100 characters."]})
    raw, prefix, hashed = generate_key()
    api_key = ApiKey.objects.create(user=user, name=name, prefix=prefix, hashed_secret=hashed)
    return api_key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key
