from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/", include("streams.api.urls")),
    path("internal/rtmp/", include("streams.media.urls")),
    # Last: /<username> catches the remaining single-segment paths.
    path("", include("streams.web.urls")),
]
