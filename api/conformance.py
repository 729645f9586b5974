"""``huying check-channel CODE``: the generic contract every channel must keep, checked from the outside.

A channel written apart from the core (a package of its own, or ``plugins/<code>/``) is run through what
the core itself relies on: it registers and declares labelled fields; its public form renders and takes
a sample built from each field's description (``core.channels.sample_value``, the same the demo and
the core tests use); the API takes that sample (201) and refuses a bad one naming the field; its demo
orders generate; its time limits and routing rules resolve; and its own tests pass. Everything runs on a
throwaway SQLite database in a temporary folder, never the configured one. Each check is one line in
words a channel author understands, with a hint when it fails — as ``pytest`` reports, not a traceback.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHECK_USER = ("conformance_agent", "conformance-check-1")  # the throwaway database's one staff account
SLA_RANGES = {  # what a time limit may sensibly be; beyond it is a typo (hours for days, a stray zero)
    "dispatch_hours": (0.1, 72), "accept_days": (1, 15), "urgent_natural_hours": (1, 240),
    "callback_days": (1, 30), "appeal_days": (1, 30), "appeal_review_days": (1, 30),
    "difficult_days": (1, 60),
}
HANDLE_DAYS = (1, 90)


@dataclasses.dataclass(frozen=True)
class Result:
    """One check: passed or not, why, and what to do about it."""

    name: str
    ok: bool
    reason: str = ""
    hint: str = ""

    def line(self) -> str:
        if self.ok:
            return f"通过  {self.name}" + (f"：{self.reason}" if self.reason else "")
        return f"失败  {self.name}：{self.reason}" + (f"（提示：{self.hint}）" if self.hint else "")


class _Page(HTMLParser):
    """The hidden inputs of a form page and the text of its error summary."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.hidden: dict[str, str] = {}
        self.names: set[str] = set()  # every input, select and textarea
        self.ids: set[str] = set()
        self.errors = ""
        self.number = ""
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs.get("name", "")] = attrs.get("value", "")
        if tag in ("input", "select", "textarea") and attrs.get("name"):
            self.names.add(attrs["name"])
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if attrs.get("id") in ("error-summary", "order-number"):
            self._in.append(attrs["id"])
        elif self._in and tag not in ("input", "br", "img", "meta", "link", "hr"):
            self._in.append(self._in[-1])

    def handle_endtag(self, tag):
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._in and self._in[-1] == "error-summary":
            self.errors += data
        elif self._in and self._in[-1] == "order-number":
            self.number += data.strip()


def form_value(info, value: Any) -> Any:
    """A sample value as a browser posts it: checkboxes "on", yes/no radios "yes"/"no", numbers and
    times as typed."""
    if info.type == "boolean":
        return ("yes" if value else "no") if info.required else ("on" if value else None)
    if info.type == "multi_choice":
        return [str(v) for v in value]
    if info.type == "datetime":
        return str(value)[:16]
    return str(value)


def sample_request(channel) -> dict:
    """An intake request for ``channel`` whose details are its fields' samples."""
    from core.channels import sample_details

    return {"kind": channel.kinds[0], "subject": "小区门口路灯坏了一个月",
            "content": "梅溪湖街道某小区东门的路灯坏了一个多月，晚上很黑，老人走路不安全。",
            "source": "phone", "citizen": {"name": "李女士", "phone": "13912345678"},
            "address": "梅溪湖街道某小区东门", "area": "梅溪湖街道", "details": sample_details(channel.fields)}


def _bad_details(channel) -> tuple[str, dict] | None:
    """A sample spoiled in one field the description can refuse: a choice that is not offered, a
    required field left out, or a text over its length limit. None when nothing can be refused."""
    from core.channels import describe_fields, sample_details

    details = sample_details(channel.fields)
    for info in describe_fields(channel.fields):
        if info.type == "choice" and info.choices:
            return info.name, {**details, info.name: "__not_offered__"}
    for info in describe_fields(channel.fields):
        if info.required:
            return info.name, {k: v for k, v in details.items() if k != info.name}
    for info in describe_fields(channel.fields):
        if info.max_length and info.type in ("string", "text"):
            return info.name, {**details, info.name: "字" * (info.max_length + 1)}
    return None


def check_declaration(channel) -> list[Result]:
    """Labels and choices as a citizen reads them, and a sample that satisfies the channel's Struct."""
    import msgspec

    from core.channels import describe_fields, sample_details

    problems = []
    for info in describe_fields(channel.fields):
        if not info.label.strip() or info.label == info.name:
            problems.append(f"字段 {info.name} 没有中文标签")
        if info.type in ("choice", "multi_choice"):
            unlabelled = [k for k, v in (info.choices or {}).items() if not str(v).strip() or v == k]
            if not info.choices or unlabelled:
                problems.append(f"字段 {info.name} 的选项没有中文名称：{', '.join(unlabelled) or '（无选项）'}")
        if info.type == "list":
            problems.append(f"字段 {info.name} 是列表但没有给出可选项，表单无法填写")
    results = [Result("字段声明", not problems, "；".join(problems) or f"{len(describe_fields(channel.fields))} 个字段均有标签",
                      'field("中文标签", choices={"code": "中文名称"})，见 docs/writing-a-channel.md')]
    if channel.fields is not None:
        try:
            msgspec.convert(sample_details(channel.fields, optional=True), channel.fields, strict=False)
            results.append(Result("样例值", True, "按字段说明生成的样例满足字段类型"))
        except msgspec.ValidationError as exc:
            results.append(Result("样例值", False, f"按字段说明生成的样例不满足字段类型：{exc}",
                                  "给该字段加上 examples=[...]（field(..., examples=[合法值])）"))
    return results


def check_limits(channel) -> Result:
    """The channel's time limits lie in sensible ranges."""
    problems = []
    for name, (low, high) in SLA_RANGES.items():
        value = getattr(channel.sla, name)
        if not low <= value <= high:
            problems.append(f"{name}={value}（应在 {low}–{high} 之间）")
    for kind, days in channel.sla.handle_days_by_kind.items():
        if not HANDLE_DAYS[0] <= days <= HANDLE_DAYS[1]:
            problems.append(f"{kind} 的办理时限 {days} 天（应在 {HANDLE_DAYS[0]}–{HANDLE_DAYS[1]} 天之间）")
    return Result("时限声明", not problems, "；".join(problems) or "各项时限都在合理范围内",
                  "检查 SlaDefaults 的单位：dispatch_hours 是小时，其余 *_days 是工作日")


async def check_routing(platform, channel) -> Result:
    """Each routing rule names an existing department and a kind and fields the channel has."""
    from core.channels import describe_fields

    departments = await platform.orders.reference.departments()
    fields = {f.name: f for f in describe_fields(channel.fields)}
    problems = []
    count = 0
    for rules in platform.channels.hooks(channel.code).routing_rules(channel=channel):
        for rule in rules or ():
            count += 1
            if rule.department not in departments:
                problems.append(f"承办单位 {rule.department} 不存在")
            if rule.kind and rule.kind not in channel.kinds:
                problems.append(f"诉求类型 {rule.kind} 不是本渠道受理的类型")
            problems.extend(rule.field_problems(fields))
    return Result("派单规则", not problems, "；".join(problems) or f"{count} 条规则都能解析",
                  "承办单位代码见 GET /api/departments；RuleSpec.details、ranges、includes 的键须是本渠道字段名")


async def check_web_form(client, channel) -> list[Result]:
    """The public form renders and takes the sample as a citizen would post it."""
    from api.web.forms import all_fields, sections
    from core.channels import describe_fields

    if not channel.public:
        return [Result("网页表单", True, "非公开渠道，没有市民表单")]
    page = await client.get(f"/forms/{channel.code}")
    if page.status_code != 200:
        return [Result("网页表单", False, f"打开 /forms/{channel.code} 得到 HTTP {page.status_code}",
                       "渠道自带的 templates/ 模板可能有误")]
    parsed = _Page(page.text)
    inputs = all_fields(sections(channel))
    shown = [Result("网页表单", True, "表单能打开")]
    missing = [f"{f.label}（{f.name}）" for f in inputs if f.name not in parsed.names]
    shown.append(Result("表单字段", not missing, f"页面缺少这些输入项：{'、'.join(missing)}" if missing
                        else f"{len(inputs)} 个输入项都在页面上",
                        "渠道自带的 templates/ 模板须保留核心生成的每个输入项"))
    tokens = {"_submission": parsed.hidden.get("_submission", ""), "_csrf_token": parsed.hidden.get("_csrf_token", "")}
    empty = await client.post(f"/forms/{channel.code}", data=tokens)
    unmarked = [f.label for f in inputs if f.required and f"{f.id}-error" not in _Page(empty.text).ids]
    shown.append(Result("表单报错", empty.status_code == 400 and not unmarked,
                        f"空表单得到 HTTP {empty.status_code}" + (f"，这些必填项旁没有错误说明：{'、'.join(unmarked)}"
                                                               if unmarked else "")
                        if empty.status_code != 400 or unmarked else "空表单被拒绝，每个必填项旁都有错误说明",
                        "渠道自带的模板须在每个输入项旁显示它的错误（id 为「输入项 id-error」）"))
    infos = {f"details.{f.name}": f for f in describe_fields(channel.fields)}
    body: dict[str, Any] = {"_submission": parsed.hidden.get("_submission", ""),
                            "_csrf_token": parsed.hidden.get("_csrf_token", ""), "kind": channel.kinds[0],
                            "subject": "小区门口路灯坏了一个月", "content": "梅溪湖街道某小区东门的路灯坏了一个多月，晚上很黑。",
                            "citizen.name": "李女士", "citizen.phone": "13912345678",
                            # the form's one address input: the channel's own place field, if it declares one
                            f"details.{channel.location_field}" if channel.location_field else "address": "梅溪湖街道某小区东门"}
    for f in inputs:
        info = infos.get(f.name)
        if info is not None and info.required:
            value = form_value(info, info.sample)
            if value is not None:
                body[f.name] = value
    sent = await client.post(f"/forms/{channel.code}", data=body)
    done = _Page(sent.text)
    if sent.status_code != 200 or not done.number:
        why = " ".join(done.errors.split()) or f"HTTP {sent.status_code}"
        return [*shown,
                Result("表单提交", False, f"按字段说明填写的表单被拒绝：{why}",
                       "给被拒绝的字段加上 examples=[合法值]，或放宽 validate_intake 的检查")]
    return [*shown, Result("表单提交", True, f"样例表单已受理（{done.number}）")]


async def check_api(client, channel, headers: dict[str, str]) -> list[Result]:
    """The API takes the sample (201) and refuses a spoiled one naming the spoiled field (400)."""
    request = sample_request(channel)
    taken = await client.post(f"/api/channels/{channel.code}/orders", json=request, headers=headers)
    if taken.status_code != 201:
        detail = taken.json() if taken.headers.get("content-type", "").startswith("application/json") else {}
        whole = [e.get("message") for e in detail.get("extra") or [] if isinstance(e, dict) and e.get("key") == "channel"]
        if taken.status_code == 400 and whole and not channel.public:  # orders made by the channel's own flow
            return [Result("接口受理", True, f"本渠道不直接受理：{whole[0]}")]
        fields = "；".join(f"{e.get('key')}: {e.get('message')}" for e in detail.get("extra") or [] if isinstance(e, dict))
        results = [Result("接口受理", False, f"样例请求得到 HTTP {taken.status_code}：{detail.get('detail', '')} {fields}".strip(),
                          "给被拒绝的字段加上 examples=[合法值]，或检查 validate_intake 是否拒绝了合法请求")]
    else:
        results = [Result("接口受理", True, "样例请求返回 201")]
    spoiled = _bad_details(channel)
    if spoiled is None:
        return [*results, Result("接口拒绝", True, "没有可按字段说明判错的字段")]
    name, details = spoiled
    refused = await client.post(f"/api/channels/{channel.code}/orders", json={**request, "details": details},
                                headers=headers)
    keys = [e.get("key") for e in (refused.json().get("extra") or []) if isinstance(e, dict)] \
        if refused.status_code == 400 else []
    if refused.status_code == 400 and f"details.{name}" in keys:
        return [*results, Result("接口拒绝", True, f"错误的 {name} 被拒绝并指明了字段")]
    return [*results, Result("接口拒绝", False, f"错误的 {name} 得到 HTTP {refused.status_code}，"
                                               f"错误没有指明字段 details.{name}（指明的是：{', '.join(map(str, keys)) or '无'}）",
                             "用 FieldError(\"details.<字段>\", 说明) 报告错误")]


def check_demo(platform, channel) -> Result:
    """The demo generator gives the channel orders (citizen channels; others are made by their own flows)."""
    from core import clock
    from core.demo import Generator

    if channel.default or not channel.public:
        return Result("演示数据", True, "默认渠道" if channel.default else "非公开渠道：演示数据只含市民提交的工单")
    generator = Generator(platform, clock.now(), days=30)
    if channel.code in generator.skipped:
        return Result("演示数据", False, f"演示数据生成器跳过了本渠道：{generator.skipped[channel.code]}",
                      "给该字段加上 examples=[合法值]")
    counter = iter(range(10 ** 6))
    made = [o for o, _ in generator.orders(400, lambda _: f"DEMO{next(counter):010d}", 1)
            if o["channel"] == channel.code]
    if not made:
        return Result("演示数据", False, "生成的演示工单里没有本渠道", "")
    return Result("演示数据", True, f"400 张演示工单中有 {len(made)} 张属于本渠道")


async def check_declarations(platform, code: str) -> list[Result]:
    """What can be checked without serving: registration, fields, time limits and routing rules."""
    channel = platform.channels.get(code)
    if channel is None:
        return [Result("注册", False, f"没有找到渠道 {code}",
                       "插件须用 @hookimpl def register_channel() 返回 Channel(code=...)，并放在 plugins/ 下或以 "
                       "huying.channels 入口点安装")]
    results = [Result("注册", True, f"渠道 {code}（{channel.name}）由插件 {platform.channels.plugin_name(code)} 注册")]
    results += check_declaration(channel)
    results.append(check_limits(channel))
    results.append(await check_routing(platform, channel))
    return results


async def check_serving(client, code: str, headers: dict[str, str]) -> list[Result]:
    """What needs the served platform behind ``client``: the form, the API and the demo generator."""
    channel = client.platform.channels.get(code)
    return [*await check_web_form(client, channel), *await check_api(client, channel, headers),
            check_demo(client.platform, channel)]


def _servable(results: list[Result]) -> bool:
    """The platform starts only with the channel registered and its rules naming real departments."""
    return all(r.ok for r in results if r.name in ("注册", "派单规则"))


async def check_channel(client, code: str, headers: dict[str, str]) -> list[Result]:
    """Every in-process check of ``code`` on a started platform behind ``client`` (its own tests aside)."""
    results = await check_declarations(client.platform, code)
    if _servable(results):
        results += await check_serving(client, code, headers)
    return results


def own_tests(folder: Path | None, timeout: int = 900) -> Result:
    """The channel's own ``tests/`` in a child pytest with the project's fixtures, on SQLite only."""
    if folder is None or not folder.is_dir():
        return Result("自带测试", True, "渠道没有 tests/ 目录")
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUYING_TEST_POSTGRES_URL", "HUYING_TEST_REDIS_URL", "HUYING_TEST_BACKENDS", "CI",
                        "HUYING_DATABASE_URL", "HUYING_VAR_DIR")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), str(folder.parent.parent), env.get("PYTHONPATH")) if p)
    try:
        ran = subprocess.run([sys.executable, "-m", "pytest", str(folder), "-q", "-p", "conftest",
                              "-c", str(ROOT / "pyproject.toml"), "-p", "no:logging", "-p", "no:cacheprovider"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Result("自带测试", False, f"{timeout} 秒内没有跑完", "检查是否有等待网络或死循环的测试")
    summary = (ran.stdout.strip().splitlines() or [""])[-1]
    if ran.returncode == 0:
        return Result("自带测试", True, summary)
    failed = [line for line in ran.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))][:5]
    return Result("自带测试", False, "；".join(failed) or summary or ran.stderr.strip()[-300:],
                  f"运行 python -m pytest {folder} 查看详情")


def load_from(folder: Path, code: str):
    """Import the channel package ``folder/<code>`` (a package kept apart from plugins/, as
    ``huying new-channel --dir`` writes it) so it can be registered like an installed one."""
    sys.path.insert(0, str(folder.resolve()))
    return importlib.import_module(code)


async def run(code: str, folder: Path | None = None, *, tests: bool = True) -> list[Result]:
    """All the checks of ``code`` on a fresh SQLite database in a temporary folder."""
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from core.demo import DEPARTMENTS
    from core.platform import Platform
    from core.plugins import DeclarationError, get_plugin_manager
    from core.settings import Settings
    from core.tables import Department
    from core.users import add_user

    extra = []
    if folder is not None and (Path(folder) / code).resolve() != (ROOT / "plugins" / code).resolve():
        try:
            extra.append(load_from(Path(folder), code))
        except Exception as exc:  # noqa: BLE001 - whatever the import raises is the author's to see
            return [Result("注册", False, f"无法导入 {Path(folder) / code}：{type(exc).__name__}: {exc}",
                           "在该目录下运行 python -c \"import " + code + "\" 查看错误")]
    with tempfile.TemporaryDirectory(prefix="huying-check-") as tmp:
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'check.sqlite3'}", secret_key="check-channel",
                            var_dir=tmp)
        try:
            platform = Platform(settings, pm=get_plugin_manager(extra=extra))
        except DeclarationError as exc:
            return [Result("注册", False, str(exc), "按提示修改插件的声明")]
        await platform.migrate()
        await platform.start()
        await Department.insert(*[Department(code=c, name=n, parent=p, sort=i) for i, (c, n, p) in enumerate(DEPARTMENTS)])
        await add_user(CHECK_USER[0], role="agent", password=CHECK_USER[1], trained=True)
        platform.orders.forget_reference_data()
        try:
            results = await check_declarations(platform, code)
            owner = platform.channels.plugin(code) if code in platform.channels else None
            if _servable(results):
                async with AsyncTestClient(create_app(platform, pool=False, run_jobs=False)) as client:
                    client.platform = platform
                    token = await client.post("/api/auth/token",
                                              json={"username": CHECK_USER[0], "password": CHECK_USER[1]})
                    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                    results += await check_serving(client, code, headers)
            else:
                results.append(Result("表单、接口与演示数据", False, "未检查：须先修正上面的注册或派单规则",
                                      "平台在声明有误时拒绝启动"))
        finally:
            await platform.stop()
    if tests and results and results[0].ok:
        module_file = getattr(owner, "__file__", None)
        results.append(own_tests(Path(module_file).parent / "tests" if module_file else None))
    return results
