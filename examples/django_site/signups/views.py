"""Views that enqueue from Django's request threads through the one ``SyncClient`` of
``examples.tasks`` (opened on first use, shared by every thread, closed at exit)."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from examples.tasks import send_welcome, tasks
from livejobs_sdk import CallError, InvalidArguments


@csrf_exempt  # an API endpoint for the example; a form view would keep CSRF
@require_POST
def signup(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    try:
        job = send_welcome.enqueue(email=body.get("email"), name=body.get("name", "there"))
    except InvalidArguments as exc:  # refused before anything was stored
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"job": job.id}, status=202)


@require_GET
def job(request: HttpRequest, job_id: str) -> JsonResponse:
    try:
        doc = tasks.sync_client.get_job(job_id)
    except CallError as exc:
        return JsonResponse({"error": exc.message}, status=404 if exc.code == "not_found" else 400)
    return JsonResponse({"status": doc["status"], "result": doc.get("result")})
