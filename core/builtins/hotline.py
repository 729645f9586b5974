"""综合热线: the general 12345 line (the city's transferred orders and the district's own calls).

It is the core's default channel and its routing rules are the general ones, applying to every
channel's orders: the message-board categories and common keywords, each to its department.
"""

from core.channels import Channel, CitizenWording
from core.hookspecs import hookimpl
from core.routing import RuleSpec

CHANNEL = Channel(
    code="hotline",
    name="综合热线",
    description="12345 市民服务热线：市级转派工单和新区自有来电、网络留言，受理咨询、求助、投诉、举报、建议和表扬。",
    wording=CitizenWording(
        card="生活中遇到的难事、烦心事都可以在这里反映：噪音扰民、道路破损、物业纠纷、办事咨询……"
             "我们会交给负责的部门办理，并按时答复您。"),
)

# (level-1 category of the message board, department, keywords seen in citizens' own words)
GENERAL_ROUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("环境保护", "eco_env", ("噪音", "噪声", "油烟", "排污", "污水", "废气", "粉尘", "异味", "污染")),
    ("劳动和社会保障", "hrss", ("欠薪", "拖欠工资", "工资", "社保", "养老金", "劳动合同", "就业")),
    ("教育文体", "education", ("学校", "学位", "入学", "幼儿园", "教师", "学生", "培训机构")),
    ("交通运输", "transport", ("公交", "出租车", "红绿灯", "交通", "道路", "网约车")),
    ("卫生计生", "health", ("医院", "医生", "疫苗", "诊所", "卫生院")),
    ("商贸旅游", "commerce", ("商场", "旅游", "景区", "超市", "商户")),
    ("城乡建设", "housing", ("物业", "开发商", "业委会", "商品房", "房产证", "小区", "装修")),
)
URBAN_KEYWORDS = ("占道", "违建", "违章建筑", "渣土", "摊贩", "垃圾", "路灯", "井盖")
SAFETY_KEYWORDS = ("安全隐患", "消防", "危化", "燃气泄漏")


def _rules() -> list[RuleSpec]:
    rules = [RuleSpec(department="emergency", keywords=SAFETY_KEYWORDS, position=10, for_every_channel=True,
                      reason="诉求内容涉及安全隐患，建议派应急管理局"),
             RuleSpec(department="urban_mgmt", keywords=URBAN_KEYWORDS, position=20, for_every_channel=True,
                      reason="诉求内容涉及市容和城市管理，建议派城市管理和综合执法局")]
    for position, (category, department, keywords) in enumerate(GENERAL_ROUTES, start=30):
        rules.append(RuleSpec(department=department, category=category, position=position,
                              for_every_channel=True, reason=f"诉求分类为「{category}」"))
        rules.append(RuleSpec(department=department, keywords=keywords, position=position + 100,
                              for_every_channel=True, reason=f"诉求内容含有「{category}」相关关键词"))
    return rules


@hookimpl
def register_channel():
    return CHANNEL


@hookimpl
def routing_rules(channel):
    return _rules()
