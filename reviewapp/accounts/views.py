"""My account, and the second step of signing in. Views check input, call one service or
selector and present the result; pages that show a secret are never cached."""

from __future__ import annotations

import base64
import binascii

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordChangeView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from reviewapp.core import notifications
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.forms import NotificationPreferencesForm

from . import selectors, services
from .forms import CodeForm, PasswordConfirmForm, TimeZoneForm, TokenCreateForm
from .middleware import pending_step, remember_device
from .models import RecoveryCodeDevice
from .policy import second_factor_required

PENDING_KEY = "accounts.pending_totp_key"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def _account_page(request: HttpRequest, **forms) -> HttpResponse:
    user = request.user
    preference = getattr(user, "preference", None) if hasattr(user, "preference") else None
    context = {
        "status": selectors.two_factor_status(user),
        "required": pending_step(request) is None and second_factor_required(user),
        "tokens": list(selectors.personal_tokens_of(user)),
        "token_form": forms.get("token_form") or TokenCreateForm(),
        "zone_form": forms.get("zone_form")
        or TimeZoneForm(initial={"time_zone": preference.time_zone if preference else "UTC"}),
        "max_days": settings.PERSONAL_TOKEN_MAX_DAYS,
        "notification_form": forms.get("notification_form")
        or NotificationPreferencesForm(
            choices=notifications.notification_choices(user=user), prefix="notify"
        ),
    }
    status = 400 if forms else 200
    return render(request, "accounts/account.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request)


@login_required
@require_POST
def time_zone(request: HttpRequest) -> HttpResponse:
    form = TimeZoneForm(request.POST)
    if form.is_valid():
        try:
            services.time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Time zone saved."))
            return redirect("accounts:account")
    return _account_page(request, zone_form=form)


@login_required
@require_POST
def notification_preferences(request: HttpRequest) -> HttpResponse:
    """The notifications section of My account (core keeps the kinds and the choices)."""
    form = NotificationPreferencesForm(
        request.POST,
        choices=notifications.notification_choices(user=request.user),
        prefix="notify",
    )
    if form.is_valid():
        try:
            notifications.notification_preferences_set(user=request.user, choices=form.choices())
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Notification settings saved."))
            return redirect(reverse("accounts:account") + "#h-notifications")
    return _account_page(request, notification_form=form)


@method_decorator(never_cache, name="dispatch")
class PasswordChange(PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):
        services.password_change(user=form.user, new_password=form.cleaned_data["new_password1"])
        update_session_auth_hash(self.request, form.user)
        messages.success(self.request, _("Your password has been changed."))
        return redirect(self.get_success_url())


# --- two-factor ----------------------------------------------------------------------------
def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    # Made here from our own URI (no user HTML in it): safe to put in the page as markup.
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


def _grouped_secret(key_hex: str) -> str:
    try:
        secret = base64.b32encode(binascii.unhexlify(key_hex)).decode()
    except (binascii.Error, ValueError):
        return ""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app; the recovery codes are shown once, in the answer."""
    if selectors.has_second_factor(request.user):
        return redirect("accounts:account")
    key = request.session.get(PENDING_KEY)
    if not key:
        key = request.session[PENDING_KEY] = services.totp_key_new()
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = services.two_factor_enrol(
                user=request.user, key=key, code=form.cleaned_data["code"]
            )
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            request.session.pop(PENDING_KEY, None)
            otp_login(request, enrolment.device)
            remember_device(request, has_device=True)
            request.session.cycle_key()
            return render(
                request,
                "accounts/recovery_codes.html",
                {
                    "codes": enrolment.recovery_codes,
                    "just_enrolled": True,
                    "next": _next_url(request),
                },
            )
    uri = services.totp_config_url(user=request.user, key=key)
    return render(
        request,
        "accounts/enrol.html",
        {
            "form": form,
            "qr": _qr_svg(uri),
            "secret": _grouped_secret(key),
            "uri": uri,
            "required": pending_step(request) == "enrol",
            "next": request.POST.get("next") or request.GET.get("next", ""),
        },
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    if pending_step(request) != "verify":
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.second_factor_verify(user=request.user, code=form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()
            if isinstance(device, RecoveryCodeDevice):
                left = selectors.two_factor_status(request.user).recovery_codes_left
                messages.warning(
                    request,
                    _(
                        "You signed in with a recovery code. %(left)s codes are left: "
                        "make new ones on your account page if you are running low."
                    )
                    % {"left": left},
                )
            return redirect(_next_url(request))
        form.add_error(
            "code",
            _("That code did not work. Check the code in your authenticator app and try again."),
        )
    return render(
        request,
        "accounts/verify.html",
        {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")},
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_remove(request: HttpRequest) -> HttpResponse:
    if not selectors.has_second_factor(request.user):
        return redirect("accounts:account")
    form = PasswordConfirmForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        services.two_factor_remove(user=request.user)
        remember_device(request, has_device=False)
        messages.success(request, _("Two-factor sign-in is off."))
        return redirect("accounts:account")
    return render(
        request,
        "accounts/confirm_password.html",
        {
            "form": form,
            "title": _("Turn off two-factor sign-in"),
            "consequence": _(
                "Your authenticator app and all your recovery codes will stop working. "
                "Signing in will need only your password."
            ),
            "also": _(
                "Your role requires two-factor sign-in: you will be asked to set it up "
                "again straight away."
            )
            if second_factor_required(request.user)
            else "",
            "button": _("Turn off two-factor sign-in"),
            "danger": True,
        },
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.recovery_codes_regenerate(user=request.user)
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("accounts:account")
        return render(
            request,
            "accounts/recovery_codes.html",
            {"codes": codes, "just_enrolled": False, "next": reverse("accounts:account")},
        )
    return render(
        request,
        "accounts/confirm_password.html",
        {
            "form": form,
            "title": _("Make new recovery codes"),
            "consequence": _("Your old recovery codes will stop working, used or not."),
            "button": _("Make new recovery codes"),
            "danger": False,
        },
        status=400 if form.errors else 200,
    )


# --- personal API tokens -------------------------------------------------------------------
@never_cache
@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST)
    if form.is_valid():
        try:
            issued = services.personal_token_create(
                user=request.user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
            )
        except ServiceError as exc:
            form.add_service_errors(exc)
        else:
            return render(request, "accounts/token_created.html", {"issued": issued})
    return _account_page(request, token_form=form)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        record = services.personal_token_revoke(user=request.user, token_id=token_id)
    except NotFound:
        raise Http404(_("No such token.")) from None
    messages.success(request, _("Token '%(name)s' revoked.") % {"name": record.name})
    return redirect("accounts:account")
