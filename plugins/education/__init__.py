"""阳光教育: parents and pupils report problems at schools, kindergartens and training centres.

Why the rules are what they are:
- A pupil's name is personal data about a child: it is sealed at rest and shown to the centre only
  (``confidential``), and it may not be written into the subject or the content, which departments read.
- The grade must belong to the school stage (初二 is not a primary-school grade): a mismatch usually
  means the wrong stage was chosen, and the stage decides who handles the order.
- Campus safety (校园安全) is urgent: handled within 24 natural hours.
- Everything goes to the education bureau, except fee disputes with off-campus training centres
  (预收费、退费), which are consumer disputes for the market regulator: its station for the street
  where the centre is, or the bureau itself for other streets.
"""

from typing import Annotated, Literal

import msgspec

from core.plugin_api import Assessment, Channel, CitizenWording, FieldError, RuleSpec, field, hookimpl

CODE = "education"
STAGES = {
    "kindergarten": "幼儿园",
    "primary": "小学",
    "junior": "初中",
    "senior": "高中",
    "vocational": "中职",
    "training": "校外培训机构",
}
ISSUES = {
    "fees": "收费",
    "enrolment": "招生入学",
    "ethics": "师德师风",
    "safety": "校园安全",
    "canteen": "食堂与营养餐",
    "training": "校外培训",
    "workload": "课业负担",
}
GRADES = {
    "k1": "小班", "k2": "中班", "k3": "大班",
    "p1": "一年级", "p2": "二年级", "p3": "三年级", "p4": "四年级", "p5": "五年级", "p6": "六年级",
    "j1": "初一（七年级）", "j2": "初二（八年级）", "j3": "初三（九年级）",
    "s1": "高一", "s2": "高二", "s3": "高三",
    "v1": "中职一年级", "v2": "中职二年级", "v3": "中职三年级",
}
# the grades each stage has; a training centre teaches children of any school grade
STAGE_GRADES = {
    "kindergarten": ("k1", "k2", "k3"),
    "primary": ("p1", "p2", "p3", "p4", "p5", "p6"),
    "junior": ("j1", "j2", "j3"),
    "senior": ("s1", "s2", "s3"),
    "vocational": ("v1", "v2", "v3"),
    "training": tuple(GRADES),
}
MESSAGES = {
    "grade_stage": "「{grade}」不是{stage}的年级，请核对学段和年级",
    "name_in_text": "请不要在{where}中写学生姓名：姓名只填在「学生姓名」一栏，仅热线中心可见",
    "safety": "校园安全问题，按紧急工单在24小时内处置",
}
TEXT_FIELDS = {"subject": "诉求标题", "content": "诉求内容"}


class EducationRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    school: Annotated[str, field("学校或机构名称", "学校、幼儿园或校外培训机构的全称", min_length=2, max_length=100)]
    stage: Annotated[Literal[tuple(STAGES)], field("学段", "学校属于哪个学段；校外培训机构单独选择", choices=STAGES)]
    issue: Annotated[Literal[tuple(ISSUES)], field("问题类型", "选择最主要的一项", choices=ISSUES)]
    grade: Annotated[Literal[tuple(GRADES)] | None, field(
        "学生年级", "涉及某个学生时选择，须与学段一致", choices=GRADES)] = None
    pupil_name: Annotated[str, field(
        "学生姓名", "选填。只有热线中心能看到，不会告知学校和承办单位；请勿写在诉求内容里", max_length=32)] = ""


CHANNEL = Channel(
    code=CODE,
    name="阳光教育",
    description="学校、幼儿园和校外培训机构的收费、招生入学、师德师风、校园安全、食堂与营养餐、校外培训、课业负担问题。",
    wording=CitizenWording(
        card="学校乱收费、入学难、老师体罚、校园安全隐患、食堂饭菜、校外培训机构退费难、作业太多？告诉我们，教育局会调查处理。",
        notice="校园里正在发生危及学生安全的情况，请立即拨打 110 或 120。",
        subject_example="学校要求购买指定教辅资料",
        content_help="请写明学校、班级、发生了什么、什么时候，以及您希望怎样解决；请不要在这里写孩子的姓名",
        address_help="学校或培训机构的地址"),
    fields=EducationRequest,
    kinds=("complaint", "report", "consult", "help", "suggestion", "praise"),
    confidential=("pupil_name",),
)

# street → the market regulator's station there, for fee disputes with off-campus training centres
MARKET_STATIONS = {
    "梅溪湖街道": ("market_meixihu", "市场监督管理局梅溪湖所"),
    "麓谷街道": ("market_lugu", "市场监督管理局麓谷所"),
    "高塘岭街道": ("market_gaotangling", "市场监督管理局高塘岭所"),
}
TRAINING_FEES = {"stage": "training", "issue": "fees"}
STATION_REASON = "{area}校外培训机构收费（预收费、退费）纠纷，由{name}查处"
MARKET_REASON = "校外培训机构收费（预收费、退费）纠纷，由市场监督管理局查处"
# issue → why the education bureau handles it
BUREAU_REASONS = {
    "fees": "学校收费问题，由教育局核查规范",
    "enrolment": "招生入学问题，由教育局基础教育部门办理",
    "ethics": "师德师风问题，由教育局调查处理",
    "safety": "校园安全问题，由教育局牵头处置",
    "canteen": "学校食堂与营养餐问题，由教育局督查整改",
    "training": "校外培训机构的资质和培训行为，由教育局校外培训监管部门查处",
    "workload": "作业和课业负担问题，由教育局督查",
}


@hookimpl
def register_channel():
    return CHANNEL


def check(intake: dict, details: EducationRequest) -> list[FieldError]:
    errors = []
    if details.grade is not None and details.grade not in STAGE_GRADES[details.stage]:
        errors.append(FieldError("details.grade", MESSAGES["grade_stage"].format(
            grade=GRADES[details.grade], stage=STAGES[details.stage])))
    name = details.pupil_name.strip()
    if name:
        errors.extend(FieldError(key, MESSAGES["name_in_text"].format(where=label))
                      for key, label in TEXT_FIELDS.items() if name in intake[key])
    return errors


@hookimpl
def validate_intake(channel, intake, details):
    return check(intake, details) or None


@hookimpl
def assess_intake(channel, intake, details):
    if details.issue == "safety":
        return Assessment(priority="urgent", reasons=(MESSAGES["safety"],))
    return None


@hookimpl
def routing_rules(channel):
    stations = [RuleSpec(department=code, area=area, details=TRAINING_FEES, position=1,
                         reason=STATION_REASON.format(area=area, name=name))
                for area, (code, name) in MARKET_STATIONS.items()]
    bureau = [RuleSpec(department="education", details={"issue": issue}, position=3, reason=reason)
              for issue, reason in BUREAU_REASONS.items()]
    return [*stations, RuleSpec(department="market", details=TRAINING_FEES, position=2, reason=MARKET_REASON),
            *bureau]
