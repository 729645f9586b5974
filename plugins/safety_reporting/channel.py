"""The channel's declaration: its form fields with their labels, and where each kind of hazard goes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from core.plugin_api import Channel, field

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
    site_address: Annotated[str, field("企业或场所地址", "不填则按受理地址", max_length=255)] = ""
    observed_at: Annotated[str, field("发现时间", "例如：2026年3月2日晚上8点前后", max_length=100)] = ""
    evidence: Annotated[str, field(
        "证据说明", "看到的情况、知情人、现场照片或视频等；文件请作为附件上传", widget="textarea",
        max_length=4000)] = ""
    reward_requested: Annotated[bool, field(
        "申请举报奖励", "实名举报经查实的可按规定申请奖励，须留下姓名、电话和身份证号")] = False
    id_number: Annotated[str, field(
        "身份证号", "申请奖励时必填；严格保密，仅热线中心经登记后可查看", max_length=18)] = ""
    payment_account: Annotated[str, field(
        "奖励收款账户", "开户行和银行卡号；严格保密，仅热线中心经登记后可查看", max_length=100)] = ""


CHANNEL = Channel(
    code="safety_reporting",
    name="安全生产有奖举报",
    description="举报生产经营单位的重大事故隐患、安全生产违法行为和瞒报谎报事故。可匿名举报；"
                "实名举报经查实的，可按规定申请奖励。举报人信息严格保密，承办单位不可见。",
    fields=SafetyReport,
    kinds=("report", "complaint"),
    protect_reporter=True,
    confidential=("id_number", "payment_account"),
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
