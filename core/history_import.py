"""Taking over a running hotline: the outgoing system's orders brought in (``huying import-history``).

An old 12345 system exports its orders as CSV or XLSX, with its own column names, status words and
department names. A mapping file (TOML, ``docs/import-history.md``) says which column is which and
what each status, department, kind, rating, source, channel and category means here; a starter is
generated from a file's header and its distinct values (``--init-mapping``). Every row is checked
before anything is written (the dry run shows the outcome of each), refused rows go to a file the
centre can correct and import again, and a row whose old number is already here is left alone, so
an import run twice (or resumed after an interruption) adds nothing twice.

Rows are written in bulk batches (``core.demo_writer``'s converters, ``executemany`` on SQLite and
``COPY`` on PostgreSQL), each batch in one transaction with its audit events (at their original
times, by the actor 历史导入), its search documents and its day counters, so the orders are found by
``q=``, appear in caller history and count in the reports of their own periods once the report facts
are refreshed at the end.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import clock
from core.areas import resolve as resolve_area
from core.calendar import SHANGHAI
from core.search import normalise_phone

IMPORT_ACTOR = "历史导入"
IMPORT_ROLE = "admin"
IMPORTED_FLAG = "imported"
REVIEW_FLAG = "import_review"  # an open order brought in: the centre checks where it stands
REFUSAL_COLUMN = "拒绝原因"
BATCH = 1000
EARLIEST = "2000-01-01"
MAX_NUMBER = 64

# our field → (label, the names old exports use for it, most usual first)
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "number": ("原工单编号（必填，用于去重）", ("工单编号", "受理编号", "工单号", "编号", "流水号", "原工单编号")),
    "received_at": ("受理时间（必填）", ("受理时间", "来电时间", "登记时间", "创建时间", "受理日期")),
    "phone": ("来电号码", ("来电号码", "联系电话", "电话号码", "手机号码", "联系方式", "电话")),
    "name": ("姓名", ("姓名", "来电人", "联系人", "市民姓名", "来电人姓名")),
    "subject": ("诉求标题", ("诉求标题", "标题", "工单标题", "主题", "事项标题")),
    "content": ("诉求内容", ("诉求内容", "问题描述", "来电内容", "诉求描述", "内容", "反映内容")),
    "kind": ("诉求类型", ("诉求类型", "工单类型", "来电类型", "类型", "诉求性质")),
    "department": ("承办单位", ("承办单位", "办理单位", "责任单位", "主办单位", "处理部门", "承办部门")),
    "status": ("工单状态（必填）", ("工单状态", "办理状态", "处理状态", "状态")),
    "reply": ("答复内容", ("答复内容", "办理结果", "回复内容", "答复意见", "处理结果")),
    "completed_at": ("办结时间", ("办结时间", "完成时间", "答复时间", "结案时间")),
    "rating": ("满意度", ("满意度", "回访结果", "评价", "满意度评价")),
    "rated_at": ("回访时间", ("回访时间", "评价时间")),
    "address": ("地址", ("地址", "事发地址", "诉求地址", "详细地址")),
    "area": ("街道", ("街道", "所属街道", "乡镇街道", "街道（乡镇）")),
    "category": ("诉求分类", ("诉求分类", "问题分类", "业务分类", "事项分类")),
    "channel": ("渠道（专线）", ("专线", "业务渠道")),
    "source": ("来源", ("来源", "受理渠道", "来电渠道", "工单来源")),
}
VALUE_SECTIONS = {  # mapping section → (the column it maps, our values and their labels)
    "statuses": "status", "departments": "department", "kinds": "kind", "ratings": "rating",
    "sources": "source", "channels": "channel", "categories": "category",
}
STATUS_CHOICES = {"archived": "已归档（已办结）", "completed": "待回访", "replied": "待审核", "accepted": "办理中",
                  "dispatched": "待签收", "received": "待派单"}
RATING_CHOICES = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
KNOWN_STATUSES = {
    "已办结": "archived", "办结": "archived", "已归档": "archived", "已回访": "archived", "已完成": "archived",
    "已结案": "archived", "结案": "archived", "待回访": "completed", "已答复": "completed",
    "待审核": "replied", "已回复": "replied", "处理中": "accepted", "办理中": "accepted", "已签收": "accepted",
    "已派单": "dispatched", "待签收": "dispatched", "已转办": "dispatched", "待派单": "received",
    "未派单": "received", "待处理": "received", "已受理": "received",
}
KNOWN_KINDS = {"咨询": "consult", "求助": "help", "投诉": "complaint", "举报": "report", "建议": "suggestion",
               "表扬": "praise", "感谢": "praise", "意见建议": "suggestion", "咨询类": "consult", "投诉类": "complaint"}
KNOWN_RATINGS = {"满意": "satisfied", "非常满意": "satisfied", "基本满意": "basically_satisfied",
                 "比较满意": "basically_satisfied", "一般": "basically_satisfied", "不满意": "unsatisfied",
                 "非常不满意": "unsatisfied"}
KNOWN_SOURCES = {"电话": "phone", "热线": "phone", "12345热线": "phone", "来电": "phone", "市级转派": "city_transfer",
                 "市转办": "city_transfer", "省市转办": "city_transfer", "网站": "web_form", "网页": "web_form",
                 "网上": "web_form", "网络留言": "netboard", "留言板": "netboard", "区红网": "hongwang", "区人民网": "renminwang", "信箱": "mailbox",
                 "书记信箱": "mailbox", "区长信箱": "mailbox", "接口": "api"}
CLOSED = {"archived"}
_DEPARTMENT_SUFFIX = re.compile(r"(办事处|分局|局|委|办|中心|所)$")


class MappingError(ValueError):
    """A mapping file that cannot be used (named key, reason in Chinese)."""


# -- reading the source files ------------------------------------------------------------------------

@dataclass
class SourceRow:
    file: str
    line: int  # the row's line as a person counts it (the header is line 1)
    values: dict[str, Any]


@dataclass
class SourceFile:
    path: Path
    header: list[str]
    rows: list[SourceRow]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number or an old number stored as a number by a spreadsheet
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    return str(value).strip()


def read_source(path: str | Path) -> SourceFile:
    """A CSV (UTF-8, with or without BOM, or GB18030 as Windows exports it) or an XLSX (first sheet)."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            lines = book.worksheets[0].iter_rows(values_only=True)
            header = [str(h).strip() if h is not None else "" for h in next(lines, ())]
            rows = []
            for i, values in enumerate(lines, start=2):
                cells = [_cell(v) for v in values]
                if any(c != "" for c in cells):
                    rows.append(SourceRow(path.name, i, dict(zip(header, cells))))
        finally:
            book.close()
        return SourceFile(path, header, rows)
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise MappingError(f"{path.name}：无法识别文件编码（请另存为 UTF-8 的 CSV）")
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    rows = []
    for i, values in enumerate(reader, start=2):
        if any(v.strip() for v in values):
            rows.append(SourceRow(path.name, i, {h: (values[j].strip() if j < len(values) else "")
                                                  for j, h in enumerate(header)}))
    return SourceFile(path, header, rows)


# -- the mapping file --------------------------------------------------------------------------------

def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def mapping_text(mapping: dict, comments: dict[str, dict[str, str]] | None = None) -> str:
    """The mapping as TOML, written by hand (the standard library only reads TOML)."""
    comments = comments or {}
    out = ["# 历史工单导入映射（huying import-history --mapping 本文件 FILE…），格式见 docs/import-history.md", ""]
    for section in ("import", "columns", *VALUE_SECTIONS):
        values = mapping.get(section) or {}
        out.append(f"[{section}]")
        for note in comments.get(section, {}).get("", "").splitlines():
            out.append(f"# {note}")
        for key, value in values.items():
            line = f"{_toml(key)} = {_toml(value)}"
            note = comments.get(section, {}).get(key)
            out.append(f"{line}  # {note}" if note else line)
        out.append("")
    return "\n".join(out)


def _match_column(header: list[str], names: tuple[str, ...]) -> str:
    for name in names:
        if name in header:
            return name
    return ""


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


def match_department(value: str, departments: list[tuple[str, str]]) -> tuple[str, str]:
    """(our code, how it was matched) for a department name as an old system wrote it: by code, by
    name, or as an abbreviation (城管局 for 城市管理和综合执法局: its characters in order in one name
    only). ("", "") when nothing or more than one department matches."""
    value = value.strip()
    for code, name in departments:
        if value in (code, name):
            return code, ""
    stem = _DEPARTMENT_SUFFIX.sub("", value)
    if len(stem) < 2:
        return "", ""
    candidates = [(code, name) for code, name in departments
                  if _subsequence(stem, name) and (value[-1] == name[-1] or not _DEPARTMENT_SUFFIX.search(value))]
    if len(candidates) > 1:  # 市场监管局 fits the bureau and its stations: the shortest name is the bureau
        shortest = min(len(n) for _, n in candidates)
        candidates = [c for c in candidates if len(c[1]) == shortest]
    if len(candidates) == 1:
        return candidates[0][0], f"按简称匹配「{candidates[0][1]}」，请核对"
    return "", ""


def init_mapping(files: list[SourceFile], departments: list[tuple[str, str]], channels) -> tuple[dict, dict]:
    """A starter mapping (and its comments) from the files' headers and distinct values: the usual
    column names recognised, known words and departments matched, every other value left "" for
    the centre to fill in."""
    header = list(dict.fromkeys(h for f in files for h in f.header))
    columns = {name: _match_column(header, names) for name, (_, names) in FIELDS.items()}
    column_notes = {name: label for name, (label, _) in FIELDS.items()}
    unused = [h for h in header if h not in columns.values()]
    column_notes[""] = ("本平台字段 = 源文件列名；不导入的留空 \"\"" +
                        (f"\n源文件中未用到的列：{'、'.join(unused)}" if unused else ""))
    mapping: dict[str, dict] = {
        "import": {"channel": channels.default.code, "source": "phone", "kind": "complaint",
                   "timezone": "+08:00", "earliest": EARLIEST},
        "columns": columns,
    }
    comments: dict[str, dict[str, str]] = {
        "import": {"": "channel 工单归入的渠道；source 没有来源列时的来源（phone 电话、city_transfer 市级转派、"
                       "web_form 网页表单、netboard 网络留言、mailbox 信箱、api 接口）；kind 诉求类型为空时的类型；\n"
                       "timezone 不带时区的时间按此时区；earliest 早于此日期的受理时间拒绝导入"},
        "columns": column_notes,
    }
    known = {"statuses": KNOWN_STATUSES, "kinds": KNOWN_KINDS, "ratings": KNOWN_RATINGS, "sources": KNOWN_SOURCES}
    choices = {"statuses": STATUS_CHOICES, "ratings": RATING_CHOICES,
               "kinds": {"consult": "咨询", "help": "求助", "complaint": "投诉", "report": "举报",
                         "suggestion": "建议", "praise": "表扬"},
               "channels": {c.code: c.name for c in channels},
               "departments": {code: name for code, name in departments}}
    for section, column in VALUE_SECTIONS.items():
        source_column = columns.get(column)
        values = sorted({str(r.values.get(source_column, "")).strip() for f in files for r in f.rows}
                        - {""}) if source_column else []
        if section == "categories":  # optional: a value not listed is kept as written
            mapping[section] = {}
            comments[section] = {"": "可选：源分类 = 本平台分类（如 城乡建设/市政设施）；未列出的分类按原文保存"}
            continue
        entries, notes = {}, {}
        for value in values[:500]:
            if section == "departments":
                entries[value], how = match_department(value, departments)
                notes[value] = how or ("" if entries[value] else "未识别，请填写本平台单位代码")
            elif section == "channels":
                code = next((c.code for c in channels if value in (c.code, c.name)), "")
                entries[value] = code
                notes[value] = "" if code else "未识别，请填写渠道代码"
            else:
                entries[value] = known[section].get(value, "")
                notes[value] = "" if entries[value] else "未识别，请填写"
        listed = "、".join(f"{k} {v}" for k, v in choices.get(section, {}).items())
        notes[""] = f"源文件中的值 = 本平台的值（{listed}）" if listed else "源文件中的值 = 本平台的值"
        mapping[section], comments[section] = entries, notes
    return mapping, comments


@dataclass
class Mapping:
    columns: dict[str, str]
    values: dict[str, dict[str, str]]
    channel: str
    source: str
    kind: str
    zone: dt.tzinfo
    earliest: dt.datetime

    @classmethod
    def load(cls, path: str | Path, platform) -> Mapping:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise MappingError(f"映射文件无法读取：{exc}") from None
        return cls.from_dict(data, platform)

    @classmethod
    def from_dict(cls, data: dict, platform) -> Mapping:
        from core.channels import KINDS, SOURCES

        settings = data.get("import") or {}
        columns = {k: str(v) for k, v in (data.get("columns") or {}).items() if k in FIELDS}
        unknown = set(data.get("columns") or {}) - set(FIELDS)
        if unknown:
            raise MappingError(f"[columns] 中有未知字段：{'、'.join(sorted(unknown))}")
        for required in ("number", "received_at", "status"):
            if not columns.get(required):
                raise MappingError(f"[columns] {required}（{FIELDS[required][0]}）必须对应源文件的一列")
        if not columns.get("subject") and not columns.get("content"):
            raise MappingError("[columns] subject（诉求标题）和 content（诉求内容）至少要对应一列")
        channel = str(settings.get("channel") or platform.channels.default.code)
        if platform.channels.get(channel) is None:
            raise MappingError(f"[import] channel：渠道 {channel} 不存在")
        source = str(settings.get("source") or "phone")
        if source not in SOURCES:
            raise MappingError(f"[import] source：来源 {source} 不存在（{'、'.join(SOURCES)}）")
        kind = str(settings.get("kind") or "complaint")
        if kind not in KINDS:
            raise MappingError(f"[import] kind：诉求类型 {kind} 不存在（{'、'.join(KINDS)}）")
        zone_text = str(settings.get("timezone") or "+08:00")
        try:
            zone = dt.datetime.fromisoformat(f"2000-01-01T00:00:00{zone_text}").tzinfo
        except ValueError:
            raise MappingError(f"[import] timezone：{zone_text} 不是时区偏移（如 +08:00）") from None
        try:
            earliest_day = dt.date.fromisoformat(str(settings.get("earliest") or EARLIEST))
        except ValueError:
            raise MappingError("[import] earliest：须为日期，如 2000-01-01") from None
        values = {}
        allowed = {"statuses": set(STATUS_CHOICES), "ratings": set(RATING_CHOICES), "kinds": set(KINDS),
                   "sources": set(SOURCES), "channels": {c.code for c in platform.channels}}
        for section in VALUE_SECTIONS:
            entries = {str(k).strip(): str(v).strip() for k, v in (data.get(section) or {}).items()}
            bad = [f"{k} = {v}" for k, v in entries.items() if v and section in allowed and v not in allowed[section]]
            if bad:
                raise MappingError(f"[{section}] 中的值不是本平台的取值：{'；'.join(bad[:5])}")
            values[section] = entries
        return cls(columns=columns, values=values, channel=channel, source=source, kind=kind, zone=zone,
                   earliest=dt.datetime.combine(earliest_day, dt.time(), zone))


# -- checking rows -----------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                 "%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日",
                 "%Y%m%d%H%M%S", "%Y.%m.%d %H:%M:%S", "%Y.%m.%d %H:%M")
_PHONE_OK = re.compile(r"^(1[3-9]\d{9}|0\d{9,11}|[2-9]\d{6,7})$")


def parse_instant(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """A time as exports write it (ISO 8601, 2024/3/5 9:12, 2024年3月5日 …, a spreadsheet's date);
    without a zone it is in ``zone``. None when it is none of these."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        text = str(value).strip()
        moment = None
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    moment = dt.datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if moment is None:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@dataclass
class Outcome:
    file: str
    line: int
    legacy_number: str
    outcome: str  # ok / merged / refused
    reasons: list[str] = field(default_factory=list)
    row: SourceRow | None = None
    prepared: dict | None = None

    @property
    def label(self) -> str:
        return {"ok": "可导入", "merged": "已导入过（同一原工单编号），合并跳过", "refused": "拒绝"}[self.outcome]


class Checker:
    """Turns a source row into an order and its events, or into the reasons it is refused."""

    def __init__(self, platform, mapping: Mapping, departments: dict[str, str], now: dt.datetime):
        self.platform, self.mapping, self.departments, self.now = platform, mapping, departments, now
        self.sla = platform.orders.sla
        self.by_name = {name: code for code, name in departments.items()}
        self.seen: dict[str, int] = {}
        self.areas: list[dict] = []  # the street list (``core.areas``): 梅溪湖 is imported as 梅溪湖街道

    def area(self, written: str) -> str:
        """The street a record names, as the list names it; one the list does not know is kept as written."""
        found, _ = resolve_area(written, self.areas)
        return found if found else written

    def cell(self, row: SourceRow, name: str) -> Any:
        column = self.mapping.columns.get(name)
        value = row.values.get(column, "") if column else ""
        return value.strip() if isinstance(value, str) else value

    def mapped(self, section: str, value: str, what: str, reasons: list[str]) -> str | None:
        found = self.mapping.values[section].get(value, "")
        if not found and section == "departments" and value not in self.mapping.values[section]:
            # a department's own code or name (a corrected row, say) needs no entry in the mapping
            found = value if value in self.departments else self.by_name.get(value, "")
        if not found:
            reasons.append(f"{what}「{value}」在映射文件 [{section}] 中没有对应")
            return None
        return found

    def check(self, row: SourceRow) -> Outcome:
        from core.channels import KINDS

        m, reasons = self.mapping, []
        text = lambda name: str(self.cell(row, name) or "")  # noqa: E731
        if any("\x00" in str(v) for v in row.values.values()):
            reasons.append("含有空字符（\\0）")
        number = text("number")
        if not number:
            reasons.append("缺少原工单编号")
        elif len(number) > MAX_NUMBER:
            reasons.append(f"原工单编号超过 {MAX_NUMBER} 个字符")
        elif number in self.seen:
            reasons.append(f"原工单编号与第 {self.seen[number]} 行重复")
        else:
            self.seen[number] = row.line
        received = self.instant(row, "received_at", "受理时间", reasons, required=True)
        if received is not None and received < m.earliest:
            reasons.append(f"受理时间早于 {m.earliest.date().isoformat()}")
            received = None
        completed = self.instant(row, "completed_at", "办结时间", reasons)
        rated_at = self.instant(row, "rated_at", "回访时间", reasons)
        if received and completed and completed < received:
            reasons.append("办结时间早于受理时间")
        phone_raw, phone = text("phone"), ""
        if phone_raw:
            digits = normalise_phone(phone_raw)
            if not digits or not _PHONE_OK.match(digits):
                reasons.append(f"来电号码「{phone_raw}」格式不正确（手机号11位，或座机号）")
            else:
                phone = digits
        subject, content = text("subject"), text("content")
        if m.columns.get("subject") and not subject:
            reasons.append("缺少诉求标题")
        if not subject and not content:
            reasons.append("缺少诉求内容")
        subject = subject or content.splitlines()[0][:40] if (subject or content) else ""
        if len(subject) > 200:
            reasons.append("诉求标题超过 200 个字")
        if len(content) > 20000:
            reasons.append("诉求内容超过 20000 个字")
        content = content or subject
        channel_code = m.channel
        if text("channel"):
            channel_code = self.mapped("channels", text("channel"), "渠道", reasons) or m.channel
        channel = self.platform.channels.get(channel_code)
        if channel.fields is not None:
            import msgspec

            try:
                msgspec.convert({}, channel.fields, strict=False)
            except msgspec.ValidationError:
                reasons.append(f"渠道「{channel.name}」有必填的专属字段，不能由历史导入建单")
        kind = m.kind
        if text("kind"):
            kind = self.mapped("kinds", text("kind"), "诉求类型", reasons) or kind
        if kind not in channel.kinds:
            reasons.append(f"「{channel.name}」不受理诉求类型「{KINDS.get(kind, kind)}」")
        source = m.source
        if text("source"):
            source = self.mapped("sources", text("source"), "来源", reasons) or source
        department = None
        if text("department"):
            department = self.mapped("departments", text("department"), "承办单位", reasons)
            if department and department not in self.departments:
                reasons.append(f"承办单位「{text('department')}」对应的单位代码 {department} 在本平台不存在")
        status = None
        if not text("status"):
            reasons.append("缺少工单状态")
        else:
            status = self.mapped("statuses", text("status"), "工单状态", reasons)
        satisfaction = None
        if text("rating"):
            satisfaction = self.mapped("ratings", text("rating"), "满意度", reasons)
        reply = text("reply")
        if status in ("archived", "completed") and completed is None and not any("办结时间" in r for r in reasons):
            reasons.append("已办结的工单缺少办结时间")
        if status in ("dispatched", "accepted", "replied") and not department and not any(
                "承办单位" in r for r in reasons):
            reasons.append("已派单的工单缺少承办单位")
        if status == "replied" and not reply:
            reasons.append("待审核的工单缺少答复内容")
        outcome = Outcome(row.file, row.line, number, "refused" if reasons else "ok", reasons, row)
        if not reasons:
            category = text("category")
            category = m.values["categories"].get(category) or category
            outcome.prepared = self.prepare(
                number=number, received=received, completed=completed, rated_at=rated_at, phone=phone,
                name=text("name"), subject=subject, content=content, channel=channel, kind=kind, source=source,
                department=department, status=status, satisfaction=satisfaction, reply=reply,
                address=text("address")[:255], area=self.area(text("area"))[:64], category=category[:128])
        return outcome

    def instant(self, row: SourceRow, name: str, label: str, reasons: list[str], required: bool = False):
        value = self.cell(row, name)
        if value in ("", None):
            if required:
                reasons.append(f"缺少{label}")
            return None
        moment = parse_instant(value, self.mapping.zone)
        if moment is None:
            reasons.append(f"{label}「{value}」无法识别（如 2024-03-05 09:12:00）")
            return None
        if moment > self.now + dt.timedelta(minutes=5):
            reasons.append(f"{label}晚于当前时间")
            return None
        return moment.astimezone(dt.timezone.utc)

    def prepare(self, *, number, received, completed, rated_at, phone, name, subject, content, channel, kind,
                source, department, status, satisfaction, reply, address, area, category) -> dict:
        """The order row (without id and number) and its events, as the service would have left them."""
        sla = self.sla
        limits = sla.limits_now(channel.code, kind)
        deadlines = sla.at_intake(channel=channel.code, kind=kind, priority="normal", received_at=received,
                                  limits=limits)
        iso = lambda moment: moment.isoformat()  # noqa: E731
        actor = (IMPORT_ACTOR, IMPORT_ROLE, None)
        events: list[tuple] = []

        def event(action, before, after, at, payload=None, reason=""):
            events.append((action, *actor, before, after, reason, {"imported": True, **(payload or {})}, at))

        event("intake", None, "received", received, {"source": source, "priority": "normal", "flags": [],
                                                      "legacy_number": number})
        closed = status == "archived"
        at_end = completed or received
        current = "received"
        if department and status != "received":
            event("dispatch", current, "dispatched", received, {"department": department, "note": IMPORT_ACTOR})
            current = "dispatched"
            deadlines["dispatch"]["done"] = iso(received)
            accept_due = min(sla.due("accept", received, channel=channel.code, kind=kind, priority="normal",
                                     limits=limits), dt.datetime.fromisoformat(deadlines["handle"]["due"]))
            deadlines["accept"] = {"start": iso(received), "due": iso(accept_due), "done": None}
            if status != "dispatched":
                event("accept", current, "accepted", received)
                current = "accepted"
                deadlines["accept"]["done"] = iso(received)
            if status in ("replied", "completed", "archived") and reply:
                event("reply", current, "replied", at_end, {"reply": reply, "public_reply": ""})
                current = "replied"
                deadlines["handle"]["done"] = iso(at_end)
            if status in ("completed", "archived"):
                event("approve", current, "completed", at_end)
                current = "completed"
                deadlines["handle"]["done"] = iso(at_end)
        elif status in ("completed", "archived"):  # answered by the centre itself
            event("resolve_at_intake", current, "completed", at_end, {"reply": reply})
            current = "completed"
            deadlines["dispatch"]["done"] = deadlines["handle"]["done"] = iso(at_end)
        rating = None
        if current == "completed":
            deadlines["callback"] = {"start": iso(at_end), "due": iso(sla.due(
                "callback", at_end, channel=channel.code, kind=kind, priority="normal", limits=limits)), "done": None}
            if satisfaction:
                rated = max(rated_at or at_end, at_end)
                good = satisfaction != "unsatisfied"
                rating = {"satisfaction": satisfaction, "resolved": good, "note": "", "rated_at": iso(rated),
                          "valid": True}
                after = "archived" if good or closed else "completed"
                event("callback", current, after, rated, {"satisfaction": satisfaction, "resolved": good,
                                                          "note": ""})
                current = after
                deadlines["callback"]["done"] = iso(rated)
            if closed and current != "archived":
                event("archive", current, "archived", at_end)
                current = "archived"
                deadlines["callback"]["done"] = deadlines["callback"]["done"] or iso(at_end)
        if current in ("archived",):
            for d in deadlines.values():
                d["done"] = d["done"] or iso(at_end)
        summary = sla.summary({k: v for k, v in deadlines.items() if not v["done"]})
        flags = [IMPORTED_FLAG] + ([] if current == "archived" else [REVIEW_FLAG])
        citizen_name, citizen_phone, sealed = name[:64], phone, ""
        if channel.protect_reporter:
            sealed = self.platform.orders.sealer.seal(json.dumps([citizen_name, citizen_phone], ensure_ascii=False))
            citizen_name = citizen_phone = ""
        order = {
            "channel": channel.code, "kind": kind, "source": source, "subject": subject, "content": content,
            "citizen_name": citizen_name, "citizen_phone": citizen_phone, "citizen_sealed": sealed,
            "anonymous": not (name or phone), "address": address, "area": area, "category": category,
            "details": {}, "status": current, "status_before_suspend": None,
            "department": department if current != "received" else None,
            "suggested_department": department, "suggestion_reason": f"{IMPORT_ACTOR}：原承办单位" if department else "",
            "priority": "normal", "received_at": received, "deadlines": deadlines, "rating": rating,
            "external_id": None, "rework_count": 0, "merged_into": None, "suspended_at": None,
            "extensions": [], "supervisions": [], "flags": flags, "assisting": [], "sla_limits": limits,
            "due_at": summary["due_at"], "at_risk_at": summary["at_risk_at"],
            "version": sum(1 for e in events if e[4] != e[5]), "created_at": received,
            "updated_at": max(e[-1] for e in events), "legacy_number": number,
        }
        return {"order": order, "events": events}


# -- progress ----------------------------------------------------------------------------------------

class Progress:
    """A progress bar with the rate (rows per second) on stderr."""

    def __init__(self, total: int, label: str, stream=None):
        self.total, self.label, self.stream = max(total, 1), label, stream or sys.stderr
        self.started = time.monotonic()
        self.shown = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.shown < 0.2:
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-6)
        percent = min(done * 100 // self.total, 100)
        bar = "#" * (percent // 4) + "-" * (25 - percent // 4)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}% {done:,}/{self.total:,}  {rate:,.0f} 行/秒")
        if final:
            self.stream.write("\n")
        self.stream.flush()


# -- writing -----------------------------------------------------------------------------------------

async def existing_numbers(numbers: list[str]) -> set[str]:
    from core.tables import Order

    found: set[str] = set()
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        found.update(r["legacy_number"] for r in await Order.select(Order.legacy_number).where(
            Order.legacy_number.is_in(chunk)))
    return found


class _Batches:
    """Writes prepared orders a batch per transaction: ids, the day's numbers (counters moved on in
    the same transaction, so an interrupted import leaves nothing a later intake could collide with),
    orders, events and search documents."""

    def __init__(self, platform):
        from piccolo.engine.postgres import PostgresEngine

        from core.demo_writer import EVENT_COLUMNS, ORDER_COLUMNS, _converters, _sqlite_instant

        self.platform = platform
        self.postgres = isinstance(platform.engine, PostgresEngine)
        self.order_columns, self.event_columns = ORDER_COLUMNS, EVENT_COLUMNS
        self.converters = _converters(None if self.postgres else _sqlite_instant)
        self.instant = None if self.postgres else _sqlite_instant
        self.db = self.conn = None

    async def open(self):
        if self.postgres:
            self.conn = await self.platform.engine.get_new_connection()
        else:
            import sqlite3

            self.db = sqlite3.connect(self.platform.engine.path, timeout=60, isolation_level=None)

    async def close(self):
        if self.conn is not None:
            await self.conn.close()
        if self.db is not None:
            self.db.close()

    def _value(self, value):
        from core.demo_writer import _dumps

        if isinstance(value, (dict, list)):
            return _dumps(value)
        if isinstance(value, dt.datetime) and self.instant:
            return self.instant(value)
        return value

    def _rows(self, prepared: list[dict], ids: list[int], numbers: list[str]):
        from core.demo_writer import document
        from core.intake import query_code

        orders, events, docs = [], [], []
        for item, order_id, number in zip(prepared, ids, numbers):
            order = {**item["order"], "id": order_id, "number": number, "query_code": query_code()}
            row = [order[c] for c in self.order_columns]
            for index, convert in self.converters:
                if row[index] is not None:
                    row[index] = convert(row[index])
            orders.append(row)
            for action, actor, role, department, before, after, reason, payload, at in item["events"]:
                events.append((order_id, action, actor, role, department, before, after, reason,
                               self._value(payload), self._value(at)))
            docs.append((order_id, document(self.platform.orders.index, order)))
        return orders, events, docs

    @staticmethod
    def _days(prepared: list[dict]) -> dict[str, int]:
        days: dict[str, int] = {}
        for item in prepared:
            day = item["order"]["received_at"].astimezone(SHANGHAI).strftime("%Y%m%d")
            days[day] = days.get(day, 0) + 1
        return days

    @staticmethod
    def _numbers(prepared: list[dict], ends: dict[str, int], days: dict[str, int]) -> list[str]:
        from core.intake import NUMBER_PREFIX

        nxt = {day: ends[day] - count + 1 for day, count in days.items()}
        out = []
        for item in prepared:
            day = item["order"]["received_at"].astimezone(SHANGHAI).strftime("%Y%m%d")
            out.append(f"{NUMBER_PREFIX}{day}{nxt[day]:06d}")
            nxt[day] += 1
        return out

    async def write(self, prepared: list[dict]) -> int:
        """Write one batch; returns how many were written (a number imported meanwhile is skipped)."""
        from core.demo_writer import postgres_documents, sqlite_documents

        legacy = [p["order"]["legacy_number"] for p in prepared]
        bump = ("INSERT INTO counters (key, value) VALUES ({a}, {b}) ON CONFLICT (key) DO UPDATE "
                "SET value = counters.value + excluded.value RETURNING value")
        if self.postgres:
            conn = self.conn
            async with conn.transaction():
                there = {r[0] for r in await conn.fetch(
                    "SELECT legacy_number FROM orders WHERE legacy_number = ANY($1::text[])", legacy)}
                prepared = [p for p in prepared if p["order"]["legacy_number"] not in there]
                if not prepared:
                    return 0
                ids = [r[0] for r in await conn.fetch(
                    "SELECT nextval(pg_get_serial_sequence('orders', 'id')) FROM generate_series(1, $1)",
                    len(prepared))]
                days = self._days(prepared)
                ends = {day: await conn.fetchval(bump.format(a="$1", b="$2"), f"order:{day}", count)
                        for day, count in days.items()}
                orders, events, docs = self._rows(prepared, ids, self._numbers(prepared, ends, days))
                await conn.copy_records_to_table("orders", records=orders, columns=list(self.order_columns))
                await conn.copy_records_to_table("order_events", records=events, columns=list(self.event_columns))
                await postgres_documents(conn, docs)
            return len(prepared)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            marks = ", ".join("?" for _ in legacy)
            there = {r[0] for r in db.execute(f"SELECT legacy_number FROM orders WHERE legacy_number IN ({marks})",
                                              legacy)}
            prepared = [p for p in prepared if p["order"]["legacy_number"] not in there]
            if not prepared:
                db.execute("ROLLBACK")
                return 0
            first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM orders").fetchone()[0]
            ids = list(range(first, first + len(prepared)))
            days = self._days(prepared)
            ends = {day: db.execute(bump.format(a="?", b="?"), (f"order:{day}", count)).fetchone()[0]
                    for day, count in days.items()}
            orders, events, docs = self._rows(prepared, ids, self._numbers(prepared, ends, days))
            db.executemany(f"INSERT INTO orders ({', '.join(self.order_columns)}) VALUES "
                           f"({', '.join('?' for _ in self.order_columns)})", orders)
            db.executemany(f"INSERT INTO order_events ({', '.join(self.event_columns)}) VALUES "
                           f"({', '.join('?' for _ in self.event_columns)})", events)
            sqlite_documents(db, docs)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return len(prepared)


@dataclass
class Report:
    outcomes: list[Outcome]
    written: int = 0
    dry_run: bool = True
    refused_file: Path | None = None
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def totals(self) -> dict[str, int]:
        return {"rows": len(self.outcomes), "ok": self.count("ok"), "merged": self.count("merged"),
                "refused": self.count("refused"), "written": self.written}


def refused_path(first: Path) -> Path:
    return first.with_name(f"{first.stem}.refused.csv")


def write_refused(path: Path, files: list[SourceFile], outcomes: list[Outcome]) -> None:
    """The refused rows with their original columns and 拒绝原因, UTF-8 with a BOM (Excel opens it)."""
    header = list(dict.fromkeys(h for f in files for h in f.header if h != REFUSAL_COLUMN))
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*header, REFUSAL_COLUMN])
        for o in outcomes:
            if o.outcome == "refused" and o.row is not None:
                values = [o.row.values.get(h, "") for h in header]
                writer.writerow([v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, dt.datetime) else v
                                 for v in values] + ["；".join(o.reasons)])


async def import_history(platform, mapping: Mapping, paths: list[str | Path], *, dry_run: bool = False,
                         refused: Path | None = None, progress: bool = True, batch: int = BATCH) -> Report:
    """Check every row of ``paths``; unless ``dry_run``, write the good ones in bulk and refresh the
    report facts. Refused rows go to ``refused`` (default: ``<first file>.refused.csv``)."""
    from core.reports import facts
    from core.tables import Department

    started = time.monotonic()
    files = [read_source(p) for p in paths]
    departments = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    await platform.orders.sla.refresh()
    checker = Checker(platform, mapping, departments, clock.now())
    checker.areas = await platform.orders.reference.areas()
    outcomes = [checker.check(row) for f in files for row in f.rows]
    there = await existing_numbers([o.legacy_number for o in outcomes if o.outcome == "ok"])
    for o in outcomes:
        if o.outcome == "ok" and o.legacy_number in there:
            o.outcome, o.prepared = "merged", None
    report = Report(outcomes, dry_run=dry_run)
    if any(o.outcome == "refused" for o in outcomes):
        report.refused_file = refused or refused_path(Path(paths[0]))
        write_refused(report.refused_file, files, outcomes)
    if not dry_run:
        todo = [o for o in outcomes if o.outcome == "ok"]
        bar = Progress(len(todo), "导入历史工单") if progress and todo else None
        writer = _Batches(platform)
        await writer.open()
        try:
            for i in range(0, len(todo), batch):
                chunk = todo[i:i + batch]
                report.written += await writer.write([o.prepared for o in chunk])
                if bar:
                    bar.update(i + len(chunk))
        finally:
            await writer.close()
        if bar:
            bar.update(len(todo), final=True)
        if report.written:
            await facts.refresh()
    report.seconds = time.monotonic() - started
    return report


def department_list(rows) -> list[tuple[str, str]]:
    return [(r["code"], r["name"]) for r in rows]


def iter_lines(report: Report) -> Iterator[str]:
    """Each row's outcome for people to read (the dry run prints them all)."""
    for o in report.outcomes:
        text = f"{o.file} 第 {o.line} 行 {o.legacy_number or '（无编号）'}：{o.label}"
        if o.reasons:
            text += "：" + "；".join(o.reasons)
        yield text
