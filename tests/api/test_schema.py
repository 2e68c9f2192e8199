"""The API's edges: JSON 404s, the browsable API, the OpenAPI schema and the docs page."""

import json
import re

import yaml
from django.contrib.staticfiles import finders

from tests.api.clients import with_session

# --- errors --------------------------------------------------------------------


def test_unknown_api_paths_are_a_json_404(anonymous):
    response = anonymous.get("/api/nothing/here/")
    missing_slash = anonymous.post("/api/channels/live")

    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at /api/nothing/here/."}
    assert missing_slash.status_code == 404
    assert missing_slash["Content-Type"] == "application/json"
    assert missing_slash.json()["detail"].endswith("API paths end with a slash.")


def test_the_browsable_api_still_renders(alice):
    response = with_session(alice).get("/api/channels/live/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Live Channel List" in response.content.decode()


# --- schema and docs --------------------------------------------------------------

API_PATHS = {
    "/api/categories/",
    "/api/channels/live/",
    "/api/channels/{username}/",
    "/api/channels/{username}/follow/",
    "/api/me/following/",
    "/api/me/channel/",
    "/api/me/channel/rotate-key/",
    "/api/me/token/",
    "/api/auth/token/",
}


def test_the_schema_is_openapi_3_json_listing_every_path(anonymous, db):
    response = anonymous.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert API_PATHS <= set(schema["paths"])
    assert set(schema["paths"]["/api/me/channel/"]) == {"get", "patch"}
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_the_schema_is_openapi_3_yaml_by_default(anonymous, db):
    response = anonymous.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert API_PATHS <= set(schema["paths"])


def test_the_docs_page_uses_only_local_static_files(anonymous, db):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "/api/schema/" in page
    for url in re.findall(r"""https?://[^\s"'<>]+""", page):
        assert url.startswith("http://testserver/"), url
    assets = re.findall(r"""(?:src|href)="/static/([^"]+)""", page)
    assert len(assets) >= 3
    for asset in assets:
        assert finders.find(asset), asset
