"""Viewsets using ``RunLogsMixin``: one per site of the requesting user, one with other names."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, viewsets

from igny8_logging.contrib.django import RunLogsMixin

from .models import AutomationRun, Job


class AutomationRunSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = AutomationRun
        fields = ("id", "run_id", "account_id", "site_id")


class AutomationRunViewSet(RunLogsMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Runs of the requesting user's site only: another site's run is a 404."""

    serializer_class = AutomationRunSerializer

    def get_queryset(self) -> QuerySet[Any]:
        member = self.request.user.member  # type: ignore[union-attr]
        return AutomationRun.objects.filter(site_id=member.site_id)


class JobViewSet(RunLogsMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Runs stored as ``key`` / ``tenant`` / ``site_code``."""

    queryset = Job.objects.all()
    run_id_field = "key"
    account_id_field = "tenant"
    site_id_field = "site_code"


class SitelessJobViewSet(RunLogsMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Runs logged without an account or site (the ``_`` folders)."""

    queryset = Job.objects.all()
    run_id_field = "key"
    account_id_field = None
    site_id_field = None
