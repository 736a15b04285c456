"""The one place that decides who sees and changes what.

Every view, UI or API, scopes its querysets through these helpers: another project's object
is simply not found (404), and a member whose role is too low gets 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404

from projects.models import Membership, Project, Role


def projects_for_user(user) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user)


def scope_to_user(queryset: QuerySet, user, *, project_field: str = "project") -> QuerySet:
    """Limit any queryset of project-owned objects to the projects ``user`` belongs to."""
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{f"{project_field}__memberships__user": user})


def role_in(user, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    cache = getattr(user, "_evalsite_roles", None)
    if cache is None:
        cache = {}
        user._evalsite_roles = cache
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(user=user, project=project)
            .values_list("role", flat=True)
            .first()
        )
    return cache[project.pk]


def require_role(user, project: Project, role: str = Role.VIEWER) -> None:
    current = role_in(user, project)
    if current is None:
        raise Http404("No such project.")
    if Role.rank(current) < Role.rank(role):
        raise PermissionDenied(f"This needs the {role} role in project {project.name}.")


def can(user, project: Project, role: str) -> bool:
    current = role_in(user, project)
    return current is not None and Role.rank(current) >= Role.rank(role)


def project_for_user(user, project_id, *, role: str = Role.VIEWER) -> Project:
    """The project with ``project_id`` if ``user`` is a member with at least ``role``."""
    try:
        project = Project.objects.get(pk=project_id)
    except (Project.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such project.") from exc
    except Exception as exc:  # malformed UUIDs raise ValidationError on some backends
        from django.core.exceptions import ValidationError

        if isinstance(exc, ValidationError):
            raise Http404("No such project.") from exc
        raise
    require_role(user, project, role)
    return project


def object_for_user(queryset: QuerySet, user, *, role: str = Role.VIEWER, **lookup):
    """Fetch one project-owned object the user may see; 404 otherwise, 403 if role too low.

    ``queryset``'s model must have a ``project`` foreign key.
    """
    from django.core.exceptions import ValidationError

    try:
        # The user's role comes with the object (the membership join that scopes it), so the
        # role check below costs no second query.
        obj = (
            scope_to_user(queryset, user)
            .select_related("project")
            .annotate(_evalsite_member_role=F("project__memberships__role"))
            .get(**lookup)
        )
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404(f"No such {queryset.model._meta.verbose_name}.") from exc
    roles = getattr(user, "_evalsite_roles", None)
    if roles is None:
        roles = user._evalsite_roles = {}
    roles.setdefault(obj.project_id, obj._evalsite_member_role)
    require_role(user, obj.project, role)
    return obj
