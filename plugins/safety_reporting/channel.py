"""The channel's declaration: its form fields with their labels, and where each kind of hazard goes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from core.plugin_api import Channel, CitizenWording, field
from plugins.safety_reporting.rewards import explain

HAZARD_TYPES = {
    "fire": "消防安全",
    "hazardous_chemicals": "危险化学品",
    "non_coal_mine": "非煤矿山",
    "construction": "建筑施工",
    "industry_trade": "工贸行业",
    "road_transport": "道路运输",
    "special_equipment": "特种设备",
    "gas": "燃气安全",
    "concealed_accident": "瞒报谎报事故",
    "other": "其他",
}


class SafetyReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    hazard_type: Annotated[Literal[tuple(HAZARD_TYPES)], field(
        "举报类型", "重大事故隐患、安全生产违法行为或瞒报谎报事故，选择最接近的一类", choices=HAZARD_TYPES)]
    enterprise: Annotated[str, field("被举报企业或场所", "企业全称、工地或场所名称", min_length=1, max_length=200)]
    site_address: Annotated[str, field(
        "企业或场所地址", "路名、门牌号或工地、园区名称，便于核查人员找到现场", max_length=255)] = ""
    observed_at: Annotated[str, field("发现时间", "例如：2026年3月2日晚上8点前后", max_length=100)] = ""
    evidence: Annotated[str, field(
        "证据说明", "看到的情况、知情人、现场照片或视频等；文件请作为附件上传", widget="textarea",
        max_length=4000)] = ""
    reward_requested: Annotated[bool, field(
        "申请举报奖励", "实名举报经查实的可按规定申请奖励，须留下姓名、电话和身份证号", after_contact=True)] = False
    id_number: Annotated[str, field(
        "身份证号", "申请奖励时必填，用于核实身份和发放奖励；严格保密", max_length=18, after_contact=True,
        shown_when=("reward_requested", True))] = ""
    payment_account: Annotated[str, field(
        "奖励收款账户", "开户行和银行卡号；也可以等奖励批准后再提供", max_length=100, after_contact=True,
        shown_when=("reward_requested", True))] = ""


CHANNEL = Channel(
    code="safety_reporting",
    name="安全生产有奖举报",
    description="举报生产经营单位的重大事故隐患、安全生产违法行为和瞒报谎报事故。可匿名举报；"
                "实名举报经查实的，可按规定申请奖励。举报人信息严格保密，承办单位不可见。",
    fields=SafetyReport,
    kinds=("report", "complaint"),
    protect_reporter=True,
    location_field="site_address",  # the form's one address: where the hazard is
    confidential=("id_number", "payment_account"),
    wording=CitizenWording(
        card="发现企业、工地、场所存在重大事故隐患或安全生产违法行为，或者有人瞒报事故，可以在这里举报。"
             "可以匿名；实名举报查实的可以申请奖励。您的身份严格保密。",
        notice="正在发生火灾、爆炸、泄漏或有人受伤等紧急情况，请立即拨打 119（火警）或 110（报警），不要在网上等待。",
        subject_example="某化工厂仓库违规存放大量易燃物品",
        content_help="请写明什么企业或场所、在哪里、存在什么隐患或违法行为、您是怎么知道的；有照片或视频请作为附件上传",
        contact_note="承办单位看不到您的身份：您的姓名、电话和证件信息只有热线中心可以查看，并严格保密。",
        after_contact_title="申请举报奖励（选填）",
        after_contact_note="承办单位看不到您的身份证号和收款账户；只有热线中心可以查看，查看会登记在案。",
        explainer_title="举报奖励怎么算",
        explainer=explain()),
)

_ID_NUMBER = re.compile(r"^\d{17}[\dXx]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def valid_id_number(text: str) -> bool:
    """A resident ID number with the right check character (GB 11643)."""
    if not _ID_NUMBER.match(text):
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == text[17].upper()


# hazard type: (department, keywords in the citizen's own words, reason shown to the dispatcher).
# Keyword rules are tried in this order: a tower crane on a building site is the housing bureau's,
# a gas cylinder in a restaurant the gas authority's, a tanker on the road the transport bureau's.
ROUTES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "concealed_accident": ("emergency", ("瞒报", "谎报", "隐瞒事故", "私了"),
                           "举报瞒报谎报事故，由应急管理局调查核实"),
    "construction": ("housing", ("工地", "脚手架", "塔吊", "深基坑", "高支模", "施工升降机"),
                     "建筑施工安全由住房和城乡建设局监管"),
    "road_transport": ("transport", ("客运", "货运", "大巴", "超载", "超员", "槽罐车", "油罐车", "危险货物运输"),
                       "道路运输安全由交通运输局监管"),
    "gas": ("urban_mgmt", ("燃气", "煤气", "液化气", "天然气"),
            "城镇燃气安全由城市管理和综合执法局（燃气主管部门）监管"),
    "special_equipment": ("market", ("电梯", "锅炉", "压力容器", "压力管道", "气瓶", "起重机", "叉车",
                                     "游乐设施", "索道"),
                          "特种设备安全由市场监督管理局监管"),
    "hazardous_chemicals": ("emergency", ("危化", "危险化学品", "易燃易爆", "化工"),
                            "危险化学品安全由应急管理局监管"),
    "non_coal_mine": ("emergency", ("矿山", "采石场", "尾矿库", "非法开采"), "非煤矿山安全由应急管理局监管"),
    "industry_trade": ("emergency", ("粉尘", "有限空间", "冶金", "工厂"), "工贸行业安全由应急管理局监管"),
    "fire": ("emergency", ("消防", "灭火器", "安全出口", "疏散通道"),
             "消防安全隐患由应急管理局会同消防救援机构核查"),
}
FALLBACK = ("emergency", "安全生产举报由应急管理局统筹核查")
