"""Open311 GeoReport v2: a real client from the package index (``georeport``) lists the services,
reads their definitions and the requests; requests are filed with plain form posts exactly as the
spec describes them. Every XML and JSON answer is checked against the spec's shapes."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree as ET

import httpx
import pytest
import xmltodict
from georeport import GeoReport

from core import clock
from tests import helpers

# The elements the GeoReport v2 spec lists for each answer.
SERVICE = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
ATTRIBUTE = {"variable", "code", "datatype", "required", "datatype_description", "order", "description"}
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
REQUEST = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
           "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
           "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"}


@pytest.fixture
def server(platform):
    from api.app import create_app

    with helpers.serve_in_thread(create_app(platform, pool=False, run_jobs=False)) as url:
        yield url


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        admin = client.post("/api/auth/token", json={"username": "admin1", "password": helpers.PASSWORD})
        client.admin = {"Authorization": f"Bearer {admin.json()['access_token']}"}
        client.key = client.post("/api/api-keys", json={"name": "open311-app"}, headers=client.admin).json()["key"]
        client.root = f"{server}/open311/v2"
        yield client


def _file(api, **form) -> httpx.Response:
    body = {"api_key": api.key, "service_code": "hotline-complaint", "lat": "28.2356", "long": "112.8731",
            "description": "梅溪湖路口路灯连续三晚不亮，夜里过马路很危险。", "phone": "13912345678",
            "first_name": "女士", "last_name": "李", **form}
    return api.post("/open311/v2/requests.json", data={k: v for k, v in body.items() if v is not None})


def _assert_request_shape(request: dict) -> None:
    assert set(request) == REQUEST
    assert request["status"] in ("open", "closed")
    for name in ("requested_datetime", "updated_datetime"):
        assert dt.datetime.fromisoformat(request[name]).tzinfo is not None  # every datetime has its zone


def test_georeport_client_lists_every_channel_and_kind_as_a_service(api):
    """A standard Open311 client sees each channel × kind as a service, in JSON and in XML alike."""
    services = GeoReport(api.root).get_service_list()
    codes = {s["service_code"] for s in services}
    assert {"hotline-complaint", "mayor_mailbox-suggestion", "migrant_workers-help"} <= codes
    for service in services:
        assert set(service) == SERVICE and service["type"] == "realtime"
    mailbox = next(s for s in services if s["service_code"] == "mayor_mailbox-suggestion")
    assert mailbox["metadata"] is True and mailbox["group"] == "区长信箱" and "建议" in mailbox["service_name"]
    assert next(s for s in services if s["service_code"] == "hotline-complaint")["metadata"] is False

    as_xml = GeoReport(api.root, output_format="xml").get_service_list()
    assert {s["service_code"] for s in as_xml} == codes
    assert all(set(s) == SERVICE for s in as_xml)
    assert next(s for s in as_xml if s["service_code"] == "mayor_mailbox-suggestion")["metadata"] == "true"


def test_georeport_client_reads_a_channels_fields_as_attributes(api):
    """A service definition lists the channel's fields with the spec's datatypes, values and order."""
    definition = GeoReport(api.root).get_service_definition("migrant_workers-help")
    assert definition["service_code"] == "migrant_workers-help"
    attributes = {a["code"]: a for a in definition["attributes"]}
    for attribute in attributes.values():
        assert ATTRIBUTE <= set(attribute) and attribute["datatype"] in DATATYPES
    assert attributes["workers"]["datatype"] == "number" and attributes["workers"]["required"] is False
    assert attributes["employer"]["datatype"] == "string" and attributes["employer"]["required"] is True
    assert attributes["still_on_site"]["datatype"] == "singlevaluelist"
    assert {v["key"] for v in attributes["still_on_site"]["values"]} == {"true", "false"}
    assert [a["order"] for a in definition["attributes"]] == list(range(1, len(attributes) + 1))

    xml = GeoReport(api.root, output_format="xml").get_service_definition("mayor_mailbox-complaint")
    topic = next(a for a in xml["attributes"]["attribute"] if a["code"] == "topic")
    assert topic["datatype"] == "singlevaluelist" and topic["required"] == "true"
    assert {"key": "environment", "name": "生态环境"} in topic["values"]["value"]


def test_a_form_post_files_a_request_that_the_client_then_reads_without_personal_data(api):
    """Filing with a form post answers the new request's id; reading it back shows status, notes and
    the agency, but never the caller's name, phone or exact location."""
    filed = _file(api)
    assert filed.status_code == 201, filed.text
    [answer] = filed.json()
    number = answer["service_request_id"]
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}

    one = GeoReport(api.root).get_service_request(number)
    _assert_request_shape(one)
    assert one["status"] == "open" and one["status_notes"] == "待派单"
    assert one["service_code"] == "hotline-complaint" and "路灯" in one["description"]
    raw = api.get(f"/open311/v2/requests/{number}.json").text
    assert "13912345678" not in raw and "李" not in raw and "28.2356" not in raw

    listed = GeoReport(api.root).get_service_requests(status="open")
    assert number in {r["service_request_id"] for r in listed}
    as_xml = GeoReport(api.root, output_format="xml").get_service_requests(service_request_id=number)
    assert as_xml["service_request_id"] == number and as_xml["status"] == "open"

    # the order is a normal order: staff see it, dispatch it, and the public status follows
    order = api.get(f"/api/orders/{number}", headers=api.admin).json()
    assert order["citizen"]["name"] == "李女士" and "28.235600,112.873100" in order["address"]
    assert order["source"] == "api"
    dispatched = api.post(f"/api/orders/{number}/actions/dispatch", json={"department": "urban_mgmt"},
                          headers=api.admin)
    assert dispatched.status_code == 200, dispatched.text
    again = GeoReport(api.root).get_service_request(number)
    assert again["agency_responsible"] == "城市管理和综合执法局" and again["status_notes"] == "待签收"
    assert GeoReport(api.root).get_service_requests(service_request_id=number, status="closed")  # id overrides


def test_attributes_single_and_multiple_are_validated_like_the_native_intake(api):
    """attribute[code] values reach the channel's fields; a bad one is a 400 naming it and writes nothing."""
    good = _file(api, service_code="migrant_workers-help", **{
        "attribute[employer]": "某劳务公司", "attribute[project]": "梅溪湖安置房", "attribute[workers]": "12",
        "attribute[amount_owed]": "86000", "attribute[wage_period]": "2026年9月至11月",
        "attribute[still_on_site]": "true"})
    assert good.status_code == 201, good.text
    order = api.get(f"/api/orders/{good.json()[0]['service_request_id']}", headers=api.admin).json()
    assert order["details"]["workers"] == 12 and order["details"]["still_on_site"] is True

    before = api.get("/api/orders", headers=api.admin).json()["total"]
    bad = _file(api, service_code="migrant_workers-help", **{
        "attribute[employer]": "某劳务公司", "attribute[project]": "梅溪湖安置房", "attribute[workers]": "很多",
        "attribute[amount_owed]": "86000", "attribute[wage_period]": "9月", "attribute[still_on_site]": "true"})
    assert bad.status_code == 400
    [error] = bad.json()
    assert error["code"] == 400 and error["description"].startswith("attribute[workers]")
    twice = api.post("/open311/v2/requests.json", data={
        "api_key": api.key, "service_code": "mayor_mailbox-suggestion", "address_string": "梅溪湖街道",
        "description": "建议增设公交线路", "phone": "13912345678",
        "attribute[topic][]": ["economy", "livelihood"]})
    assert twice.status_code == 400 and "attribute[topic]" in twice.json()[0]["description"]
    plugin_rule = _file(api, service_code="mayor_mailbox-suggestion", **{
        "attribute[topic]": "economy", "attribute[reply_method]": "email"})
    assert plugin_rule.status_code == 400  # the channel's own validator, as on the native intake
    assert "attribute[email]" in plugin_rule.json()[0]["description"]
    phone = _file(api, phone="12345")
    assert phone.status_code == 400 and phone.json()[0]["description"].startswith("phone")
    assert api.get("/api/orders", headers=api.admin).json()["total"] == before


def test_location_description_and_media_url_are_checked(api):
    """A request needs a place (lat+long or address_string); the description is at most 4,000 characters."""
    nowhere = _file(api, lat=None, long=None)
    assert nowhere.status_code == 400 and "address_string" in nowhere.json()[0]["description"]
    off_earth = _file(api, lat="128", long="112")
    assert off_earth.status_code == 400 and off_earth.json()[0]["description"].startswith("lat/long")
    too_long = _file(api, description="长" * 4001)
    assert too_long.status_code == 400 and too_long.json()[0]["description"].startswith("description")
    by_address = _file(api, lat=None, long=None, address_string="岳麓区梅溪湖路与桐梓坡路交叉口",
                       media_url="https://example.org/lamp.jpg", phone=None)
    assert by_address.status_code == 201, by_address.text
    order = api.get(f"/api/orders/{by_address.json()[0]['service_request_id']}", headers=api.admin).json()
    assert order["address"] == "岳麓区梅溪湖路与桐梓坡路交叉口" and order["anonymous"] is True
    assert "https://example.org/lamp.jpg" in order["content"]


def test_keys_are_required_and_scoped_like_the_native_api(api):
    """No key or a wrong key is 403; a key for other channels may not file into this one."""
    assert _file(api, api_key=None).status_code == 403
    wrong = _file(api, api_key="hy_nope_nope")
    assert wrong.status_code == 403 and wrong.json() == [{"code": 403, "description": "api_key 无效"}]
    scoped = api.post("/api/api-keys", json={"name": "mailbox-only", "channels": ["mayor_mailbox"]},
                      headers=api.admin).json()["key"]
    refused = _file(api, api_key=scoped)
    assert refused.status_code == 403 and "区长信箱" not in refused.json()[0]["description"]
    assert _file(api, api_key=scoped, service_code="mayor_mailbox-suggestion",
                 **{"attribute[topic]": "economy"}).status_code == 201


def test_errors_are_spec_shaped_in_xml_and_json(api):
    """Unknown service, request or jurisdiction are 404, the body a list of {code, description}."""
    assert api.get("/open311/v2/services/nothing-here.json").json()[0]["code"] == 404
    xml = api.get("/open311/v2/requests/XJ0.xml")
    assert xml.status_code == 404 and xml.headers["content-type"].startswith("text/xml")
    errors = ET.fromstring(xml.content)
    assert errors.tag == "errors" and [e.tag for e in errors] == ["error"]
    assert {c.tag for c in errors[0]} == {"code", "description"} and errors[0].findtext("code") == "404"
    assert api.get("/open311/v2/services.json", params={"jurisdiction_id": "elsewhere"}).status_code == 404
    assert api.get("/open311/v2/services.json", params={"jurisdiction_id": "huying"}).status_code == 200
    assert api.get("/open311/v2/services.yaml").status_code == 404
    assert api.post("/open311/v2/requests.json", data={"api_key": api.key,
                                                       "service_code": "nope"}).status_code == 404


def test_request_search_windows_and_filters(api):
    """GET requests covers the last 90 days unless told otherwise, never more than 90 days at once."""
    number = _file(api).json()[0]["service_request_id"]
    now = clock.now()
    within = {"start_date": (now - dt.timedelta(days=1)).isoformat(), "end_date": (now + dt.timedelta(hours=1)).isoformat()}
    found = api.get("/open311/v2/requests.json", params={**within, "service_code": "hotline-complaint"}).json()
    assert [r["service_request_id"] for r in found] == [number]
    assert api.get("/open311/v2/requests.json", params={**within, "service_code": "hotline-praise"}).json() == []
    assert api.get("/open311/v2/requests.json", params={**within, "status": "closed"}).json() == []
    old = {"end_date": (now - dt.timedelta(days=10)).isoformat()}
    assert api.get("/open311/v2/requests.json", params=old).json() == []
    too_wide = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    assert api.get("/open311/v2/requests.json", params=too_wide).status_code == 400
    assert api.get("/open311/v2/requests.json", params={"start_date": "2026-01-01T00:00:00"}).status_code == 400
    assert api.get("/open311/v2/requests.json", params={"status": "pending"}).status_code == 400
    many = ",".join(f"XJ{i}" for i in range(101))
    assert api.get("/open311/v2/requests.json", params={"service_request_id": many}).status_code == 400


def test_tokens_and_discovery(api):
    """A token resolves to its request id; discovery names the spec, the endpoint and both formats."""
    number = _file(api).json()[0]["service_request_id"]
    assert api.get(f"/open311/v2/tokens/{number}.json").json() == [{"service_request_id": number, "token": number}]
    token_xml = xmltodict.parse(api.get(f"/open311/v2/tokens/{number}.xml").content)
    assert token_xml["service_requests"]["request"]["token"] == number
    discovery = xmltodict.parse(api.get("/open311/v2/discovery.xml").content)["discovery"]
    endpoint = discovery["endpoints"]["endpoint"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"]["format"] == ["text/xml", "application/json"]
    assert endpoint["url"].endswith("/open311/v2/")
    assert api.get("/open311/v2/discovery.json").json()["endpoints"][0]["type"] == "production"


def test_protected_reporters_channel_is_never_read_publicly(api):
    """A tip-off filed over Open311 is recorded, but neither listed nor readable on the public side."""
    filed = _file(api, service_code="safety_reporting-report", **{
        "attribute[hazard_type]": next(iter(_choices(api, "safety_reporting-report", "hazard_type"))),
        "attribute[enterprise]": "某化工厂"})
    assert filed.status_code == 201, filed.text
    number = filed.json()[0]["service_request_id"]
    assert api.get(f"/open311/v2/requests/{number}.json").status_code == 404
    assert number not in {r["service_request_id"] for r in api.get("/open311/v2/requests.json").json()}


def _choices(api, code: str, attribute: str) -> list[str]:
    definition = api.get(f"/open311/v2/services/{code}.json").json()
    return [v["key"] for a in definition["attributes"] if a["code"] == attribute for v in a["values"]]
