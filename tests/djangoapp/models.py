"""A run row (run id, account, site, owner), a user's site, and a row with other field names."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Member(models.Model):
    """The account and site a user works in."""

    user: models.OneToOneField[Any, Any] = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE
    )
    account_id: models.IntegerField[int, int] = models.IntegerField()
    site_id: models.IntegerField[int, int] = models.IntegerField()

    class Meta:
        app_label = "djangoapp"


class AutomationRun(models.Model):
    """An automation run as a service stores it."""

    run_id: models.CharField[str, str] = models.CharField(max_length=200)
    account_id: models.IntegerField[int, int] = models.IntegerField()
    site_id: models.IntegerField[int, int] = models.IntegerField()
    owner: models.ForeignKey[Any, Any] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE
    )

    class Meta:
        app_label = "djangoapp"


class Job(models.Model):
    """A run stored under other names, with string tenant ids."""

    key: models.CharField[str, str] = models.CharField(max_length=200)
    tenant: models.CharField[str, str] = models.CharField(max_length=64)
    site_code: models.CharField[str, str] = models.CharField(max_length=64)

    class Meta:
        app_label = "djangoapp"


class PipelineRun(models.Model):
    """The app's own record of a run, kept in step by ``RunModelHandler``."""

    run_id: models.CharField[str, str] = models.CharField(max_length=200, unique=True)
    status: models.CharField[str, str] = models.CharField(max_length=20, default="queued")
    stage_1_result = models.JSONField(null=True)
    stage_2_result = models.JSONField(null=True)

    class Meta:
        app_label = "djangoapp"
