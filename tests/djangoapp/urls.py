"""``/runs/``, ``/jobs/`` and ``/siteless/`` routes."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from .views import AutomationRunViewSet, JobViewSet, SitelessJobViewSet

router = DefaultRouter()
router.register("runs", AutomationRunViewSet, basename="run")
router.register("jobs", JobViewSet, basename="job")
router.register("siteless", SitelessJobViewSet, basename="siteless")
urlpatterns = router.urls
