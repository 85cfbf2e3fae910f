"""Settings of the live task board: an ordinary Django project that adds
realtime through switchboard. Everything realtime is configured by the
SWITCHBOARD_* environment variables below."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "board",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "live.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("DJANGO_DB", str(BASE_DIR / "db.sqlite3")),
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "/static/"
# The browser helper (clients/js/switchboard.js) is served as /static/switchboard.js.
STATICFILES_DIRS = [BASE_DIR.parent.parent / "clients" / "js"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"board": {"handlers": ["console"], "level": "INFO"}},
}

# Realtime: where switchboard is, and the secrets shared with its config.
SWITCHBOARD_HTTP = os.environ.get("SWITCHBOARD_HTTP", "http://127.0.0.1:8080")      # HTTP bridge
SWITCHBOARD_WS = os.environ.get("SWITCHBOARD_WS", "ws://127.0.0.1:8080/ws")         # for the page
SWITCHBOARD_BRIDGE_KEY = "django"
SWITCHBOARD_BRIDGE_SECRET = os.environ.get("DJANGO_BRIDGE_SECRET", "change-me-bridge-secret-0123456789")
SWITCHBOARD_HOOK_SECRET = os.environ.get("DJANGO_HOOK_SECRET", "change-me-hook-secret-0123456789")
