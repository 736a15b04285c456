from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.access import projects_for_user
from projects.models import Membership


class ProjectOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()


class ProjectListOut(serializers.Serializer):
    data = ProjectOut(many=True)


class ProjectListApi(APIView):
    """The caller's projects, with the ids the other endpoints take as ``project_id``."""

    @extend_schema(responses=ProjectListOut, tags=["projects"])
    def get(self, request):
        roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
        data = [
            {
                "id": p.id,
                "name": p.name,
                "slug": p.slug,
                "description": p.description,
                "role": roles.get(p.id, ""),
                "created_at": p.created_at,
            }
            for p in projects_for_user(request.user)
        ]
        return Response(ProjectListOut({"data": data}).data)
