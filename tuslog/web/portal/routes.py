"""Every portal route with who may reach it, in one table (the crawl test in
tests/portal walks the router built from it). A route's access is declared here and
nowhere else; one without an explicit level needs both factors (``Access.STAFF``)."""

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from aiohttp import web

from tuslog.web.portal import (
    apikey_views,
    archive_search,
    archive_views,
    audit_views,
    dashboard,
    profile_views,
    signin_views,
    ticket_views,
    token_views,
    upload_views,
    user_views,
    webhook_views,
)
from tuslog.web.portal.guard import ACCESS, Access

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Route(NamedTuple):
    method: str
    path: str
    view: View
    name: str
    access: Access = Access.STAFF


_NUMBER = "{number}"  # any ticket number, percent-encoded by tuslog.web.portal.links
_UPLOAD = "{upload_id:[0-9a-f]{32}}"
_TOKEN = "{prefix:tlu_[a-z2-7]{8}}"  # noqa: S105 - a route pattern
_EMAIL = "{email}"
_KEY = "{key:tlk_[a-z2-7]{8}}"
_HOOK = "/webhooks/{webhook_id:[0-9]{1,18}}"
_DELIVERY = "{delivery_id:[0-9]{1,18}}"
_ENTRY = "{entry:[0-9]{1,9}}"  # an entry's number in its archive, never its name

ROUTES = (
    Route("GET", "/signin", signin_views.signin_form, "signin", Access.PUBLIC),
    Route("POST", "/signin", signin_views.signin_submit, "signin.submit", Access.PUBLIC),
    Route("GET", "/signin/enrol", signin_views.enrol_form, "enrol", Access.PENDING),
    Route("POST", "/signin/enrol", signin_views.enrol_submit, "enrol.submit", Access.PENDING),
    Route("GET", "/signin/verify", signin_views.verify_form, "verify", Access.PENDING),
    Route("POST", "/signin/verify", signin_views.verify_submit, "verify.submit", Access.PENDING),
    Route("POST", "/signout", signin_views.signout, "signout", Access.SESSION),
    Route("GET", "/", dashboard.dashboard, "dashboard"),
    Route("GET", "/activity.json", dashboard.activity, "activity"),
    Route("GET", "/tickets", ticket_views.ticket_list, "tickets"),
    Route("GET", "/tickets/new", ticket_views.new_form, "ticket.new"),
    Route("POST", "/tickets/new", ticket_views.create, "ticket.create"),
    Route("GET", f"/tickets/{_NUMBER}", ticket_views.ticket_page, "ticket"),
    Route("GET", f"/tickets/{_NUMBER}/edit", ticket_views.edit_form, "ticket.edit"),
    Route("POST", f"/tickets/{_NUMBER}/edit", ticket_views.edit, "ticket.save"),
    Route("POST", f"/tickets/{_NUMBER}/resolve", ticket_views.resolve, "ticket.resolve"),
    Route("POST", f"/tickets/{_NUMBER}/reopen", ticket_views.reopen, "ticket.reopen"),
    Route("GET", f"/tickets/{_NUMBER}/delete", ticket_views.delete_form, "ticket.delete"),
    Route("POST", f"/tickets/{_NUMBER}/delete", ticket_views.delete, "ticket.delete.submit"),
    Route("POST", f"/tickets/{_NUMBER}/tokens", token_views.issue, "token.issue"),
    Route("POST", f"/tokens/{_TOKEN}/revoke", token_views.revoke, "token.revoke"),
    Route("POST", f"/tokens/{_TOKEN}/update", token_views.update, "token.update"),
    Route("GET", "/uploads", upload_views.upload_list, "uploads"),
    Route("GET", f"/uploads/{_UPLOAD}", archive_views.upload_page, "upload"),
    Route("GET", f"/uploads/{_UPLOAD}/search", archive_search.search_page, "upload.search"),
    Route("GET", f"/uploads/{_UPLOAD}/entries/{_ENTRY}", archive_views.entry_page, "upload.entry"),
    Route(
        "GET",
        f"/uploads/{_UPLOAD}/entries/{_ENTRY}/download",
        archive_views.entry_download,
        "upload.entry.download",
    ),
    Route("GET", f"/uploads/{_UPLOAD}/download", upload_views.download, "upload.download"),
    Route("GET", f"/uploads/{_UPLOAD}/delete", upload_views.delete_form, "upload.delete"),
    Route("POST", f"/uploads/{_UPLOAD}/delete", upload_views.delete, "upload.delete.submit"),
    Route("GET", "/audit", audit_views.audit_log, "audit"),
    Route("GET", "/profile", profile_views.profile, "profile"),
    Route("POST", "/profile/password", profile_views.change_password, "profile.password"),
    Route("POST", "/profile/recovery-codes", profile_views.new_recovery_codes, "profile.codes"),
    Route("POST", "/profile/sessions", profile_views.end_other_sessions, "profile.sessions"),
    Route("GET", "/api-keys", apikey_views.key_list, "api-keys"),
    Route("POST", "/api-keys", apikey_views.create, "apikey.create"),
    Route("GET", f"/api-keys/{_KEY}/revoke", apikey_views.revoke_form, "apikey.revoke"),
    Route("POST", f"/api-keys/{_KEY}/revoke", apikey_views.revoke, "apikey.revoke.submit"),
    Route("GET", "/webhooks", webhook_views.hook_list, "webhooks", Access.ADMIN),
    Route("GET", "/webhooks/new", webhook_views.new_form, "webhook.new", Access.ADMIN),
    Route("POST", "/webhooks/new", webhook_views.create, "webhook.create", Access.ADMIN),
    Route("GET", _HOOK, webhook_views.hook_page, "webhook", Access.ADMIN),
    Route("GET", f"{_HOOK}/edit", webhook_views.edit_form, "webhook.edit", Access.ADMIN),
    Route("POST", f"{_HOOK}/edit", webhook_views.edit, "webhook.save", Access.ADMIN),
    Route("GET", f"{_HOOK}/delete", webhook_views.delete_form, "webhook.delete", Access.ADMIN),
    Route("POST", f"{_HOOK}/delete", webhook_views.delete, "webhook.delete.submit", Access.ADMIN),
    Route(
        "POST",
        f"{_HOOK}/deliveries/{_DELIVERY}/resend",
        webhook_views.resend,
        "webhook.resend",
        Access.ADMIN,
    ),
    Route("GET", "/users", user_views.user_list, "users", Access.ADMIN),
    Route("POST", "/users", user_views.create, "user.create", Access.ADMIN),
    Route(
        "POST",
        f"/users/{_EMAIL}/deactivate",
        user_views.deactivate,
        "user.deactivate",
        Access.ADMIN,
    ),
    Route(
        "POST",
        f"/users/{_EMAIL}/reactivate",
        user_views.reactivate,
        "user.reactivate",
        Access.ADMIN,
    ),
    Route(
        "POST", f"/users/{_EMAIL}/reset-2fa", user_views.reset_2fa, "user.reset_2fa", Access.ADMIN
    ),
)


def add_routes(router: web.UrlDispatcher) -> None:
    for route in ROUTES:
        if route.method == "GET":  # HEAD too (curl -I on a download)
            router.add_get(route.path, route.view, name=route.name)
        else:
            router.add_route(route.method, route.path, route.view, name=route.name)
        if route.access is not Access.STAFF:
            ACCESS[route.name] = route.access
