"""Project isolation and roles, through the one scoping helper and through the UI."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.access import object_for_user, project_for_user, require_role, scope_to_user
from projects.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def test_members_get_their_project(owner, viewer, project):
    assert project_for_user(owner, project.id) == project
    assert project_for_user(viewer, project.id) == project


def test_another_projects_id_is_not_found(owner, project, other_project):
    with pytest.raises(Http404):
        project_for_user(owner, other_project.id)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "", None, "00000000-0000-0000-0000-000000000000"])
def test_malformed_or_unknown_ids_are_not_found(owner, project, bad_id):
    with pytest.raises(Http404):
        project_for_user(owner, bad_id)


def test_a_viewer_cannot_write(viewer, editor, project):
    with pytest.raises(PermissionDenied):
        require_role(viewer, project, Role.EDITOR)
    require_role(editor, project, Role.EDITOR)
    with pytest.raises(PermissionDenied):
        require_role(editor, project, Role.ADMIN)


def test_scoping_limits_querysets_to_the_users_projects(owner, outsider, project, other_project):
    memberships = Membership.objects.all()
    assert set(scope_to_user(memberships, outsider).values_list("project", flat=True)) == {
        other_project.id
    }


def test_object_for_user_hides_other_projects_objects(owner, outsider, project, other_project):
    membership = Membership.objects.get(project=other_project)
    with pytest.raises(Http404):
        object_for_user(Membership.objects.all(), owner, pk=membership.pk)
    assert object_for_user(Membership.objects.all(), outsider, pk=membership.pk) == membership


def test_project_pages_are_404_for_outsiders(outsider_web, project):
    for area in ("evaluations", "datasets", "workflows", "metrics"):
        response = outsider_web.get(f"/projects/{project.id}/{area}/")
        assert response.status_code == 404, area


def test_project_pages_render_for_members(viewer_web, project):
    for area in ("evaluations", "datasets", "workflows", "metrics"):
        response = viewer_web.get(f"/projects/{project.id}/{area}/")
        assert response.status_code == 200, area
        assert project.name in response.content.decode()


def test_anonymous_visitors_are_sent_to_login(client, project):
    response = client.get(f"/projects/{project.id}/datasets/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_home_redirects_to_the_users_project(web, project):
    response = web.get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.id}/evaluations/"


def test_a_user_without_projects_is_offered_to_create_one(make_user, client):
    user = make_user("lonely")
    client.force_login(user)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/projects/new/"
    response = client.post("/projects/new/", {"name": "Mine"})
    project = Project.objects.get(name="Mine")
    assert Membership.objects.get(user=user, project=project).role == Role.ADMIN
    assert response["Location"] == f"/projects/{project.id}/evaluations/"


def test_the_project_switcher_refuses_foreign_projects(web, project, other_project):
    assert web.get(f"/projects/switch/?project={other_project.id}").status_code == 404
    response = web.get(f"/projects/switch/?project={project.id}")
    assert response["Location"] == f"/projects/{project.id}/evaluations/"
