"""Tests for aggregator.routing with the shipped default network.

The numbers below were checked against the installed phonenumbers carrier
data (English names): +33612345678 'SFR', +33770000000 'Orange France',
+33699990000 'Bouygues', +33651234567 / +33695123456 / +33766123456
'Free Mobile', +33641000000 'La poste telecom', +33605500000 'Lycamobile',
+33751800000 'Lebara France Limited'.
"""

import dataclasses

import pytest

from aggregator.config import NetworkConfig, load_config
from aggregator.routing import Route, Router, RoutingError, valid_e164


@pytest.fixture(scope="module")
def network() -> NetworkConfig:
    return load_config()


@pytest.fixture(scope="module")
def router(network: NetworkConfig) -> Router:
    return Router(network.operators, network.routing)


def with_ported(network: NetworkConfig, ported: dict[str, str]) -> Router:
    return Router(network.operators, dataclasses.replace(network.routing, ported=ported))


# -- native carriers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "operator_id", "carrier"),
    [
        ("+33612345678", "sfr", "SFR"),
        ("+33770000000", "orange", "Orange France"),
        ("+33699990000", "bouygues", "Bouygues"),
        ("+33651234567", "free", "Free Mobile"),
        ("+33695123456", "free", "Free Mobile"),
        ("+33766123456", "free", "Free Mobile"),
    ],
)
def test_native_carrier_routes_to_its_operator(router: Router, number: str, operator_id: str, carrier: str) -> None:
    assert router.route(number) == Route(number, operator_id, carrier, "carrier")


# -- MVNOs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "operator_id", "carrier"),
    [
        ("+33641000000", "sfr", "La poste telecom"),
        ("+33605500000", "bouygues", "Lycamobile"),
        ("+33751800000", "sfr", "Lebara France Limited"),
    ],
)
def test_mvno_routes_to_its_host(router: Router, number: str, operator_id: str, carrier: str) -> None:
    assert router.route(number) == Route(number, operator_id, carrier, "mvno_host")


def test_every_french_mobile_carrier_is_served(router: Router) -> None:
    """Sweep +33 6/7 ranges: a valid number with a known carrier must never be unroutable.

    Guards the default network against a phonenumbers update adding a carrier
    name that default_network.yaml does not map yet.
    """
    unserved: set[str] = set()
    for first in "67":
        for block in range(10000):
            try:
                router.route(f"+33{first}{block:04d}0000")
            except RoutingError as err:
                if err.kind == "no_operator" and err.carrier:
                    unserved.add(err.carrier)
    assert unserved == set()


# -- ported numbers --------------------------------------------------------------


def test_ported_whole_number_overrides_carrier(network: NetworkConfig) -> None:
    router = with_ported(network, {"+33612345678": "orange"})
    assert router.route("+33612345678") == Route("+33612345678", "orange", "", "ported")
    assert router.route("+33612345679").operator_id == "sfr"  # neighbour untouched


def test_ported_longest_prefix_wins(network: NetworkConfig) -> None:
    router = with_ported(network, {"+336123": "bouygues", "+3361234": "free", "+33612345678": "orange"})
    assert router.route("+33612345678").operator_id == "orange"
    assert router.route("+33612345000") == Route("+33612345000", "free", "", "ported")
    assert router.route("+33612399999").operator_id == "bouygues"
    assert router.route("+33613000000").reason == "carrier"


def test_ported_applies_after_normalisation(network: NetworkConfig) -> None:
    router = with_ported(network, {"+33612345678": "orange"})
    assert router.route("0612345678", ton=2).operator_id == "orange"


# -- normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "ton"),
    [
        ("33612345678", 1),
        ("+33612345678", 1),
        ("+33612345678", 0),
        ("+33612345678", 2),
        ("0612345678", 2),
        ("0612345678", 0),
        ("612345678", 2),
        ("0033612345678", 1),
        ("0033612345678", 0),
        ("0033612345678", 2),
        ("33612345678", 0),
    ],
)
def test_valid_e164(address: str, ton: int) -> None:
    assert valid_e164(address, ton, "FR") == "+33612345678"


def test_valid_e164_reads_national_numbers_in_the_default_region() -> None:
    assert valid_e164("07911123456", 2, "GB") == "+447911123456"


def test_route_normalises(router: Router) -> None:
    assert router.route("0612345678", ton=2).msisdn == "+33612345678"
    assert router.route("0612345678", ton=0).msisdn == "+33612345678"
    assert router.route("33612345678").msisdn == "+33612345678"


# -- refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "ton"),
    [
        ("", 1),
        ("abc", 1),
        ("+33", 1),
        ("1234", 1),
        ("+33 6 12 34 56 78x", 1),
        ("0612345678", 1),  # national number sent as international
        ("+447700900123", 1),  # UK drama range: phonenumbers says not valid
        ("INFO", 5),  # alphanumeric TON
        ("0612345678", 6),  # abbreviated TON
    ],
)
def test_invalid_numbers(router: Router, address: str, ton: int) -> None:
    with pytest.raises(RoutingError) as info:
        router.route(address, ton)
    assert info.value.kind == "invalid_number"
    assert info.value.address == address


@pytest.mark.parametrize(
    ("address", "carrier"),
    [
        ("+447911123456", "JT"),  # valid UK-range mobile, carrier no operator serves
        ("+33123456789", ""),  # French fixed line: no mobile carrier
    ],
)
def test_unserved_numbers(router: Router, address: str, carrier: str) -> None:
    with pytest.raises(RoutingError) as info:
        router.route(address)
    assert info.value.kind == "no_operator"
    assert info.value.carrier == carrier


# -- construction checks --------------------------------------------------------


def test_router_rejects_unknown_region(network: NetworkConfig) -> None:
    with pytest.raises(ValueError, match="ZZ"):
        Router(network.operators, dataclasses.replace(network.routing, default_region="ZZ"))


def test_router_rejects_unknown_operator_reference(network: NetworkConfig) -> None:
    with pytest.raises(ValueError, match="nobody"):
        with_ported(network, {"+336": "nobody"})


def test_routers_do_not_share_caches(network: NetworkConfig) -> None:
    plain = Router(network.operators, network.routing)
    ported = with_ported(network, {"+33612345678": "orange"})
    assert plain.route("+33612345678").operator_id == "sfr"
    assert ported.route("+33612345678").operator_id == "orange"
    assert plain.route("+33612345678").operator_id == "sfr"
