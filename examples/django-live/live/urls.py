from django.contrib.auth import views as auth_views
from django.urls import path

from board import views

urlpatterns = [
    path("", views.board, name="board"),
    path("tasks", views.add_task, name="add_task"),
    path("tasks.json", views.tasks_json, name="tasks_json"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Called by switchboard, not by browsers:
    path("realtime/auth", views.realtime_auth, name="realtime_auth"),
    path("realtime/rpc/count", views.rpc_count_tasks, name="rpc_count"),
]
