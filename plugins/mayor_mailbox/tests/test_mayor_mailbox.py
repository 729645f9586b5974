"""区长信箱 over the API: its letter fields, the reply method's own requirement, routing, and the
consent to publication it declares."""

from __future__ import annotations

from tests.helpers import intake_body


def _letter(**details) -> dict:
    letter = {"topic": "urban_construction", "reply_method": "phone"}
    letter.update(details)
    return intake_body(kind="suggestion", subject="建议在梅溪湖增设公交线路", content="小区附近没有公交线路，出行不便，建议增设。",
                       details=letter)


async def _post(client, tokens, body):
    return await client.post("/api/channels/mayor_mailbox/orders", json=body, headers=tokens["agent1"])


async def test_a_letter_is_taken_and_its_consent_declared(client, tokens):
    response = await _post(client, tokens, _letter(publish_consent=True))
    assert response.status_code == 201, response.text
    assert response.json()["details"]["publish_consent"] is True
    assert client.platform.channels.get("mayor_mailbox").consent_field == "publish_consent"


async def test_an_email_reply_needs_a_valid_address(client, tokens):
    response = await _post(client, tokens, _letter(reply_method="email", email="not-an-address"))
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "details.email"
    assert (await _post(client, tokens, _letter(reply_method="email", email="li@example.cn"))).status_code == 201


async def test_a_letter_about_planning_is_suggested_to_the_planning_bureau(client, tokens):
    body = _letter()
    body["content"] = "小区旁边的地块规划调整，想了解征地补偿标准。"
    order = (await _post(client, tokens, body)).json()
    assert order["suggested_department"] == "natural_resources"
    assert "规划" in order["suggestion_reason"]
