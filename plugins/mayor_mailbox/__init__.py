"""区长信箱: the mayor's mailbox, the reference channel.

Letters to the district head are answered by the general office or the department it assigns, more
slowly than a hotline call, and a citizen may consent to have the letter and its reply published.
"""

from typing import Annotated, Literal

import msgspec

from core.channels import Channel, SlaDefaults, field
from core.plugin_api import CitizenWording
from core.errors import FieldError
from core.hookspecs import hookimpl
from core.routing import RuleSpec

TOPICS = {
    "urban_construction": "城市建设",
    "economy": "经济发展",
    "livelihood": "民生保障",
    "environment": "生态环境",
    "government": "政务服务",
    "other": "其他",
}
REPLY_METHODS = {"phone": "电话", "sms": "短信", "email": "电子邮件", "letter": "书面信函"}
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class MailboxLetter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    topic: Annotated[Literal[tuple(TOPICS)], field("信件主题", "选择最接近的一类，便于转交相关部门", choices=TOPICS)]
    publish_consent: Annotated[bool, field(
        "同意公开", "同意后，来信和答复将在区长信箱公开栏目展示，个人信息隐去")] = False
    reply_method: Annotated[Literal[tuple(REPLY_METHODS)], field(
        "答复方式", choices=REPLY_METHODS)] = "phone"
    email: Annotated[str, field("电子邮箱", "答复会发到这个邮箱", widget="email", max_length=120,
                                shown_when=("reply_method", "email"))] = ""
    postal_address: Annotated[str, field("通信地址", "答复信函会寄到这个地址；不填则寄到上面的事发地址",
                                         max_length=200, shown_when=("reply_method", "letter"))] = ""


CHANNEL = Channel(
    code="mayor_mailbox",
    name="区长信箱",
    description="给新区主要负责同志写信，反映问题、提出意见建议；可选择公开来信和答复。",
    wording=CitizenWording(
        card="给新区主要负责同志写信：反映问题、提出意见和建议。您可以选择公开来信和答复，让更多人看到。",
        subject_example="建议在梅溪湖公园增设儿童游乐设施",
        content_help="请写明您看到的情况或遇到的问题，以及您的意见和建议；写得越具体，越便于办理"),
    fields=MailboxLetter,
    kinds=("consult", "complaint", "report", "suggestion", "praise", "help"),
    sla=SlaDefaults(dispatch_hours=7, accept_days=1, appeal_days=3, callback_days=2,
                    handle_days_by_kind={"consult": 5, "help": 5, "praise": 5,
                                         "complaint": 15, "report": 15, "suggestion": 15}),
)


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def validate_intake(channel, intake, details):
    import re

    if details.reply_method == "email" and not re.match(EMAIL, details.email or ""):
        return [FieldError("details.email", "选择电子邮件答复时，请填写有效的电子邮箱")]
    if details.reply_method == "letter" and not (details.postal_address or intake["address"]).strip():
        return [FieldError("details.postal_address", "选择书面信函答复时，请填写通信地址")]
    return None


@hookimpl
def routing_rules(channel):
    return [
        RuleSpec(department="natural_resources", keywords=("规划", "拆迁", "征地", "用地"), position=10,
                 reason="来信涉及规划和用地，建议转自然资源和规划局"),
        RuleSpec(department="development", keywords=("营商环境", "招商", "企业", "产业"), position=20,
                 reason="来信涉及经济发展和营商环境，建议转经济发展局"),
        RuleSpec(department="general_office", position=1000,
                 reason="区长信箱来信由管委会办公室统一交办"),
    ]
