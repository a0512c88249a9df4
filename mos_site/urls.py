"""The site's URLs. The project includes each app's URLconf by its dotted name and imports no
app: ``/metrics`` is ``observability``'s, everything else below the root is ``listening``'s."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .login import ThrottledAdminAuthenticationForm, ThrottledAuthenticationForm

# The admin's log-in page counts failures like the site's (mos_site.login).
admin.site.login_form = ThrottledAdminAuthenticationForm

# A failed page in the listener's language; 503 with Retry-After when the database is the cause.
handler500 = "mos_site.outage.server_error"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include("observability.urls")),
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("listening.urls")),
]
