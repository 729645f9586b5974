"""Reading the city's callback results: an XLSX or CSV file, or the same rows as JSON.

The layout is the city platform's export (README.md in this folder): a header row naming the
columns, in any order, then one callback per row. Only the header decides which column is which.
Reading is bounded (file size, unpacked size, rows, cell length), so no upload can make the server
do unbounded work.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from typing import Any

import msgspec

from core.plugin_api import SHANGHAI, FieldError, InvalidInput

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ROWS = 5000
MAX_COLUMNS = 64  # of an XLSX sheet; the city's layout has about ten
MAX_CELL = 2000

# header as the city writes it → our name; required ones first
COLUMNS = {
    "市级编号": "city_number",
    "回访时间": "callback_at",
    "回访结果": "callback_result",
    "工单编号": "number",
    "不满意原因": "reason",
}
REQUIRED = ("市级编号", "回访时间", "回访结果")
RESULTS = {"不满意": "unsatisfied", "未办结": "unresolved", "未解决": "unresolved"}
RESULT_LABELS = {"unsatisfied": "不满意", "unresolved": "未办结"}
GOOD_RESULTS = ("满意", "基本满意", "已办结", "已解决")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y%m%d%H%M%S")
MESSAGES = {
    "too_big": "文件超过 5 MB，请分批导入",
    "unpacked": "XLSX 文件解压后过大，请另存为 CSV 或分批导入",
    "not_xlsx": "无法读取该 XLSX 文件，请确认是 Excel 2007 及以上格式，或另存为 CSV",
    "encoding": "CSV 文件编码无法识别，请另存为 UTF-8 或 GBK 编码",
    "kind": "只支持 .xlsx 或 .csv 文件",
    "empty": "文件中没有表头行",
    "missing": "缺少必需的列：{columns}（表头须与市级平台导出一致，列的顺序不限）",
    "repeated": "表头中「{column}」出现了不止一次",
    "too_many": "一次最多导入 {limit} 行，请分批导入",
    "no_rows": "文件中没有数据行",
    "blank": "「{column}」为空",
    "too_long": "「{column}」超过 {limit} 个字",
    "time": "回访时间「{value}」无法识别，应写作 2026-11-20 14:30",
    "future": "回访时间「{value}」晚于当前时间",
    "good": "回访结果为「{value}」，无需复查（只导入不满意或未办结的回访）",
    "result": "回访结果「{value}」无法识别，应为：不满意、未办结",
}


class Row(msgspec.Struct, kw_only=True):
    """One data row as read: its line in the file (the header is line 1), the values by our names,
    and what is wrong with it (empty when it can be imported as far as the file alone can tell)."""

    line: int
    city_number: str = ""
    number: str = ""
    callback_at: dt.datetime | None = None
    callback_result: str = ""
    reason: str = ""
    raw: dict[str, str] = {}
    problems: list[str] = []


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header(value: Any) -> str:
    return re.sub(r"[\s*＊]", "", _text(value))


def _parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = _text(value)
        for fmt in TIME_FORMATS:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                return None
    return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment


def read_table(table: list[list[Any]], *, where: str, now: dt.datetime) -> tuple[list[Row], list[str]]:
    """Rows from a header row and data rows; returns (rows, ignored columns). A header without a
    required column refuses the whole file with 400 naming ``where``."""
    lines = [(i, r) for i, r in enumerate(table, start=1) if any(_text(c) for c in r)]
    if not lines:
        raise InvalidInput([FieldError(where, MESSAGES["empty"])], MESSAGES["empty"])
    header_line, header = lines[0]
    names = [_header(c) for c in header]
    for name in names:
        if name and names.count(name) > 1:
            raise InvalidInput([FieldError(where, MESSAGES["repeated"].format(column=name))],
                               MESSAGES["repeated"].format(column=name))
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        message = MESSAGES["missing"].format(columns="、".join(missing))
        raise InvalidInput([FieldError(where, message)], message)
    data = lines[1:]
    if not data:
        raise InvalidInput([FieldError(where, MESSAGES["no_rows"])], MESSAGES["no_rows"])
    if len(data) > MAX_ROWS:
        message = MESSAGES["too_many"].format(limit=MAX_ROWS)
        raise InvalidInput([FieldError(where, message)], message)
    position = {name: i for i, name in enumerate(names) if name}
    ignored = [n for n in names if n and n not in COLUMNS]
    rows = []
    for line, cells in data:
        cell = {column: cells[i] if i < len(cells) else None for column, i in position.items()}
        rows.append(_row(line, cell, now))
    return rows, ignored


def _row(line: int, cell: dict[str, Any], now: dt.datetime) -> Row:
    raw = {column: _text(value) for column, value in cell.items() if column in COLUMNS}
    problems = []
    for column, value in raw.items():
        if len(value) > MAX_CELL:
            problems.append(MESSAGES["too_long"].format(column=column, limit=MAX_CELL))
            raw[column] = value[:MAX_CELL]
    for column in REQUIRED:
        if not raw.get(column):
            problems.append(MESSAGES["blank"].format(column=column))
    callback_at = _parse_time(cell.get("回访时间")) if raw.get("回访时间") else None
    if raw.get("回访时间") and callback_at is None:
        problems.append(MESSAGES["time"].format(value=raw["回访时间"]))
    elif callback_at is not None and callback_at > now + dt.timedelta(minutes=5):
        problems.append(MESSAGES["future"].format(value=raw["回访时间"]))
    result_text = raw.get("回访结果", "")
    result = RESULTS.get(result_text, "")
    if result_text and not result:
        problems.append(MESSAGES["good" if result_text in GOOD_RESULTS else "result"].format(value=result_text))
    return Row(line=line, city_number=raw.get("市级编号", "")[:64], number=raw.get("工单编号", "")[:32],
               callback_at=callback_at, callback_result=result, reason=raw.get("不满意原因", ""),
               raw=raw, problems=problems)


def read_file(filename: str, data: bytes, *, now: dt.datetime) -> tuple[list[Row], list[str]]:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput([FieldError("file", MESSAGES["too_big"])], MESSAGES["too_big"])
    name = filename.lower()
    if name.endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return read_table(_xlsx(data), where="file", now=now)
    if name.endswith(".csv") or not name:
        return read_table(_csv(data), where="file", now=now)
    raise InvalidInput([FieldError("file", MESSAGES["kind"])], MESSAGES["kind"])


def _csv(data: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput([FieldError("file", MESSAGES["encoding"])], MESSAGES["encoding"])
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise InvalidInput([FieldError("file", MESSAGES["encoding"])], MESSAGES["encoding"]) from None


def _xlsx(data: bytes) -> list[list[Any]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise InvalidInput([FieldError("file", MESSAGES["unpacked"])], MESSAGES["unpacked"])
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except InvalidInput:
        raise
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidInput([FieldError("file", MESSAGES["not_xlsx"])], MESSAGES["not_xlsx"]) from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # the file's own claim of its size is not trusted
        table = []
        for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
            cells = list(row)
            while cells and cells[-1] is None:
                cells.pop()
            table.append(cells)
            if len(table) > MAX_ROWS + 50:
                break
        return table
    finally:
        book.close()


def read_json(rows: list[dict[str, Any]], *, now: dt.datetime) -> tuple[list[Row], list[str]]:
    """The API's rows: objects keyed by the same headers as the file's columns."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = [columns, *[[row.get(c) for c in columns] for row in rows]]
    read, ignored = read_table(table, where="rows", now=now)
    for row in read:
        row.line -= 1  # the row's place in the list, from 1
    return read, ignored
