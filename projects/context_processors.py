from projects.access import projects_for_user


def current_project(request):
    """The project switcher's data: the user's projects and the one being viewed."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    project_id = match.kwargs.get("project_id") if match else None
    projects = list(projects_for_user(user).only("id", "name"))
    current = next((p for p in projects if p.pk == project_id), None)
    return {"user_projects": projects, "current_project": current}
