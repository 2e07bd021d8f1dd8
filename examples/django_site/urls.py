from __future__ import annotations

from django.urls import path

from examples.django_site.signups import views

urlpatterns = [
    path("signups", views.signup),
    path("jobs/<str:job_id>", views.job),
]
