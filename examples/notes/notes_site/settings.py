"""Settings of the notes site, from the environment (lab-app.toml sets it)."""

import os

SECRET_KEY = os.environ.get("NOTES_SECRET_KEY", "lab-only-not-a-secret")
DEBUG = False
# The lab's nginx passes the client's Host (127.0.0.1); the site answers nothing else.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["notes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "notes_site.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [],
              "APP_DIRS": True, "OPTIONS": {}}]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": os.environ.get("NOTES_DB_HOST", "postgres"),
    "NAME": os.environ.get("NOTES_DB_NAME", "postgres"),
    "USER": os.environ.get("NOTES_DB_USER", "app"),
    # A connection per request (Django's default, CONN_MAX_AGE 0), closed at its end.
    "CONN_MAX_AGE": int(os.environ.get("NOTES_CONN_MAX_AGE", "0")),
}}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# A container's logs are its stdout and stderr: a request that fails logs its exception
# there (Django's default sends it to the admins' mail only).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False}},
}
