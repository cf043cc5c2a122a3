"""Settings of the minimal Django project that runs django-oscar's order placement for `make bench`.

Oscar's own app list and defaults, as its "Building your own shop" guide sets them up, on
PostgreSQL with ``ATOMIC_REQUESTS`` (a checkout request is one transaction), ``DEBUG`` off (no
query log) and persistent connections (a worker keeps one connection, as the shop's pool does).
"""

import os

import oscar
from oscar import defaults

for _name in dir(defaults):  # the same as Oscar's documented `from oscar.defaults import *`
    if _name.isupper():
        globals()[_name] = getattr(defaults, _name)

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "USER": "postgres",
        "NAME": os.environ.get("BENCH_OSCAR_DATABASE", "shop_bench_oscar"),
        "ATOMIC_REQUESTS": True,
        "CONN_MAX_AGE": None,
    }
}

INSTALLED_APPS = list(oscar.INSTALLED_APPS)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTHENTICATION_BACKENDS = [
    "oscar.apps.customer.auth_backends.EmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]

HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}

OSCAR_ALLOW_ANON_CHECKOUT = True  # the shop's orders are guest orders (name and e-mail), so these are too
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_INITIAL_LINE_STATUS = "Pending"
OSCAR_ORDER_STATUS_PIPELINE = {
    "Pending": ("Being processed", "Cancelled"),
    "Being processed": (),
    "Cancelled": (),
}

STATIC_URL = "/static/"
