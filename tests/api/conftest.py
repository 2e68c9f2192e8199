"""Fixtures for the API tests; the users, categories, go_live and no_nginx are in tests/conftest.py."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _api_test_settings(no_nginx, settings):
    # no_nginx: key rotation drops the publisher through nginx, which here fails at once.
    # The docs page links static files; the manifest storage would need collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
