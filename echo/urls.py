from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# Staff log in through allauth's login page, with its rate limits
# (ACCOUNT_RATE_LIMITS["login_failed"]): the admin's own form has none.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("api/", include("streams.api.urls")),
    path("internal/rtmp/", include("streams.media.urls")),
    # Last: /<username> catches the remaining single-segment paths.
    path("", include("streams.web.urls")),
]
