"""Callbacks cannot be turned against our own network: DNS rebinding, IPv6 wrappers, loopback."""

from __future__ import annotations

import socket

import pytest
from django.test import override_settings

from reviewapp.delivery import services, validators
from reviewapp.delivery.models import Delivery
from reviewapp.delivery.transport import PinnedAddressAdapter
from reviewapp.delivery.validators import (
    CallbackTarget,
    UnsafeCallbackURL,
    check_callback_url,
    resolve_callback_url,
)

from .factories import make_decision, make_item

HOST = "hooks.example.test"


class FakeResolver:
    """Answers each lookup of HOST with the next address list; counts the lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        assert host == HOST
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def _send_all() -> None:
    services.deliveries_send_due(time_budget=5)


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_ALLOW_LOOPBACK=False)
def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_at_send(
    hooked_model, receiver, ana, monkeypatch
):
    port = receiver.server.server_address[1]
    resolver = FakeResolver(["93.184.216.34"], ["127.0.0.1"])
    monkeypatch.setattr(validators, "_resolve", resolver)
    services.model_callback_configure(
        model=hooked_model,
        callback_url=f"http://{HOST}:{port}/hooks/failsafe",
        actor=services.SENDER,
    )  # first lookup: public, accepted
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    _send_all()  # second lookup: loopback
    delivery = Delivery.objects.get()
    assert receiver.requests == []
    assert "127.0.0.1" in delivery.last_error and "loopback" in delivery.last_error
    assert resolver.calls == 2


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_ALLOW_LOOPBACK=True)
def test_the_send_connects_to_the_address_it_checked_and_keeps_the_host_name(
    hooked_model, receiver, ana, monkeypatch
):
    """One lookup per send: any later lookup of the name (as requests would make when it
    connects) answers a private address, and must never be made."""
    port = receiver.server.server_address[1]
    resolver = FakeResolver(["127.0.0.1"])
    monkeypatch.setattr(validators, "_resolve", resolver)
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host == HOST:
            return real_getaddrinfo("10.255.255.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    hooked_model.callback_url = f"http://{HOST}:{port}/hooks/failsafe"
    hooked_model.save(update_fields=["callback_url"])
    make_decision(make_item(hooked_model), ana)
    services.deliveries_enqueue()
    _send_all()
    assert Delivery.objects.get().status == "delivered"
    assert resolver.calls == 1
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"{HOST}:{port}"
    assert request["path"] == "/hooks/failsafe"


def test_https_keeps_the_host_name_for_sni_and_the_certificate_check():
    target = CallbackTarget(
        scheme="https", host=HOST, port=443, netloc=HOST, address="93.184.216.34"
    )
    pool = PinnedAddressAdapter(target).get_connection_with_tls_context(request=None, verify=True)
    assert pool.host == "93.184.216.34" and pool.port == 443
    assert pool.conn_kw["server_hostname"] == HOST
    assert pool.assert_hostname == HOST
    assert pool.cert_reqs == "CERT_REQUIRED" and pool.ca_certs


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_ALLOW_LOOPBACK=False)
@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("::ffff:127.0.0.1", "loopback address inside an IPv4-mapped"),
        ("::ffff:10.0.0.1", "private address inside an IPv4-mapped"),
        ("::127.0.0.1", "loopback address inside an IPv4-compatible"),
        ("::10.1.2.3", "private address inside an IPv4-compatible"),
        ("::93.184.216.34", "reserved"),  # the deprecated form, even for a public address
        ("2002:7f00:1::1", "loopback address inside an 6to4"),
        ("2002:a9fe:a9fe::1", "link-local address inside an 6to4"),
        ("2002:c0a8:0101::1", "private address inside an 6to4"),
        ("64:ff9b::127.0.0.1", "loopback address inside an NAT64"),
        ("64:ff9b::10.0.0.1", "private address inside an NAT64"),
        ("64:ff9b::169.254.169.254", "link-local address inside an NAT64"),
        ("64:ff9b:1::192.168.1.1", "private address inside an NAT64"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
    ],
)
def test_ipv6_forms_that_wrap_non_public_addresses_are_refused(address, words, monkeypatch):
    monkeypatch.setattr(validators, "_resolve", FakeResolver([address]))
    with pytest.raises(UnsafeCallbackURL, match=words):
        check_callback_url(f"https://{HOST}/hook")
    with pytest.raises(UnsafeCallbackURL, match="callbacks may only go to public addresses"):
        check_callback_url(f"https://[{address}]/hook")


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_ALLOW_LOOPBACK=False)
@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "::ffff:93.184.216.34", "64:ff9b::93.184.216.34", "2002:5db8:d822::1"],
)
def test_public_addresses_in_any_form_pass(address, monkeypatch):
    monkeypatch.setattr(validators, "_resolve", FakeResolver([address]))
    assert resolve_callback_url(f"https://{HOST}/hook").address == address


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_ALLOW_LOOPBACK=False)
def test_one_bad_address_among_several_refuses_the_host(monkeypatch):
    monkeypatch.setattr(validators, "_resolve", FakeResolver(["93.184.216.34", "10.0.0.5"]))
    with pytest.raises(UnsafeCallbackURL, match="10.0.0.5"):
        check_callback_url(f"https://{HOST}/hook")


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False, WEBHOOK_ALLOW_LOOPBACK=True)
@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/h", "http://[::1]:9000/h"])
def test_the_development_setting_allows_loopback_and_nothing_else(url):
    check_callback_url(url)
    for other in ("http://10.0.0.1/h", "http://169.254.169.254/", "http://[fc00::1]/h"):
        with pytest.raises(UnsafeCallbackURL):
            check_callback_url(other)


@override_settings(WEBHOOK_ALLOW_PRIVATE_NETWORKS=False)
def test_loopback_is_refused_by_default():
    from django.conf import settings

    assert settings.WEBHOOK_ALLOW_LOOPBACK is False
    with pytest.raises(UnsafeCallbackURL, match="loopback"):
        check_callback_url("http://127.0.0.1:9000/h")
