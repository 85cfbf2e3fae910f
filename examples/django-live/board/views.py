import json
from http.cookies import SimpleCookie

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import realtime
from .models import Task


def _task_list():
    return [{"id": t.id, "title": t.title, "by": t.created_by.username} for t in Task.objects.all()[:50]]


@login_required
def board(request):
    # The position first, then the data: every task saved after the data
    # was read is published after this position, so the page gets it.
    position = realtime.position("app.board.tasks")
    return render(request, "board/index.html", {
        "tasks": Task.objects.all()[:50],
        "ws_url": settings.SWITCHBOARD_WS,
        "tasks_position": position,
    })


@login_required
def tasks_json(request):
    """The task list again, for a page whose events were lost (onGap)."""
    position = realtime.position("app.board.tasks")
    return JsonResponse({"tasks": _task_list(), "position": position})


@login_required
@require_POST
def add_task(request):
    title = request.POST.get("title", "").strip()
    if title:
        Task.objects.create(title=title, created_by=request.user)
    return redirect("board")


@csrf_exempt  # called by switchboard (loopback), not by browsers
@require_POST
def realtime_auth(request):
    """switchboard's auth webhook: which user does this WebSocket belong to?"""
    body = json.loads(request.body)
    cookie_header = "; ".join(body.get("transport", {}).get("headers", {}).get("Cookie", []))
    cookies = SimpleCookie(cookie_header)
    if "sessionid" not in cookies:
        return HttpResponse(status=401)
    user_id = SessionStore(session_key=cookies["sessionid"].value).get("_auth_user_id")
    if user_id is None:
        return HttpResponse(status=403)
    user = get_user_model().objects.get(pk=user_id)
    return JsonResponse({"authid": user.username, "role": "user"})


@csrf_exempt  # called by switchboard, checked by signature
@require_POST
def rpc_count_tasks(request):
    """A WAMP procedure answered by Django (switchboard's HTTP callee)."""
    if not realtime.verify_signature(request):
        return JsonResponse({"error": "app.error.unauthorized", "args": ["bad signature"]}, status=401)
    call = json.loads(request.body)
    mine = Task.objects.filter(created_by__username=call["caller"]["authid"]).count()
    return JsonResponse({"args": [Task.objects.count()], "kwargs": {"mine": mine}})
