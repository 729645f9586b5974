"""The ``huying`` command line: serve, worker, migrate, demo, user add, backup, restore, check."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from core.migrations import PICCOLO_CONF
from core.model import ROLES


def _platform():
    from core.platform import Platform

    return Platform()


async def _migrate(platform) -> None:
    await platform.migrate()
    await platform.start()


def cmd_migrate(args) -> None:
    asyncio.run(_migrate(_platform()))
    print("数据库已迁移到最新版本")


SHUTDOWN_SECONDS = 5  # open event streams (console pages) never end by themselves: cut them on shutdown


def server_options() -> dict:
    """What uvicorn is told in every mode: the h11 parser, which stops reading a request line and
    headers at ``MAX_HEADER_BYTES`` (the httptools parser reads any size: a 64 MB header was taken
    in whole), a short keep-alive, and a bounded wait for open requests on shutdown."""
    from api.guard import MAX_HEADER_BYTES

    return {"http": "h11", "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "timeout_keep_alive": 5,
            "timeout_graceful_shutdown": SHUTDOWN_SECONDS}


def cmd_serve(args) -> None:
    import uvicorn

    from api.app import create_app

    platform = _platform()
    pbx_token = None

    async def prepare():
        nonlocal pbx_token
        await _migrate(platform)
        if args.demo:
            from core.demo import seed_if_empty

            seeded = await seed_if_empty(platform, orders=args.orders)
            if seeded:
                print(seeded)
            if args.calls:
                from core.model import Actor

                made = await platform.telephony.create_connection("演示交换机", Actor(name="system", role="admin"))
                pbx_token = made["token"]
        await platform.stop()

    asyncio.run(prepare())
    url = f"http://{args.host}:{args.port}"
    print(f"呼应 Huying 已启动: {url}  (API 文档: {url}/schema/swagger)")
    if pbx_token:
        _simulate_in_background(f"http://127.0.0.1:{args.port}", pbx_token)
    # our request log writes the one line per request (with its id); uvicorn's own would repeat it.
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any local peer as the client;
    # the application believes it only from HUYING_TRUSTED_PROXIES (api/client.py)
    options = dict(host=args.host, port=args.port, log_level="info", access_log=False, proxy_headers=False,
                   **server_options())
    if args.workers > 1:  # each worker process assembles its own platform from the same settings
        uvicorn.run("api.app:create_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_app(platform), **options)


def _simulate_in_background(url: str, token: str) -> None:
    """``serve --demo --calls``: a simulated PBX rings the demo agent (extension 8001) every half
    minute or so, for as long as the server runs, so a newcomer sees calls arrive and pop."""
    import threading
    import time

    from api.cti_simulator import Simulator
    from core.demo import DEMO_EXTENSION

    def run():
        time.sleep(3)  # the server is up
        asyncio.run(Simulator(url, token, extensions=[DEMO_EXTENSION], duplicates=0).run(10 ** 9, 1 / 30, lines=2))

    threading.Thread(target=run, name="huying-demo-pbx", daemon=True).start()
    print("演示交换机已接入：约每半分钟一通来电，由 agent（分机 8001）接听")


def cmd_worker(args) -> None:
    from arq.worker import run_worker

    from core.jobs import worker_settings

    platform = _platform()
    if not platform.settings.redis_url:
        sys.exit("HUYING_REDIS_URL 未设置：内置模式下后台任务在 serve 进程内运行，无需 worker")
    run_worker(worker_settings(platform, burst=args.burst))


def cmd_run_job(args) -> None:
    import json

    from core.jobs import run_job

    platform = _platform()
    if args.list or not args.name:
        for job in platform.jobs.values():
            print(f"{job.name:<22} {job.schedule:<24} {job.label}")
        return
    job = platform.jobs.get(args.name)
    if job is None:
        sys.exit(f"错误: 没有名为 {args.name} 的后台任务（huying run-job --list 列出全部）")

    async def run():
        await _migrate(platform)
        try:
            return await run_job(platform, job, mode="manual")
        finally:
            await platform.stop()

    print(json.dumps(asyncio.run(run()), ensure_ascii=False, default=str))


def cmd_demo(args) -> None:
    from core.demo import seed

    async def run():
        platform = _platform()
        await _migrate(platform)
        print(await seed(platform, orders=args.orders))

    asyncio.run(run())


def cmd_user_add(args) -> None:
    from core.users import add_user

    async def run():
        platform = _platform()
        await _migrate(platform)
        await add_user(args.name, role=args.role, department=args.department, password=args.password)

    try:
        asyncio.run(run())
    except ValueError as exc:
        sys.exit(f"错误: {exc}")
    print(f"已添加用户 {args.name}（{args.role}）")


def cmd_new_channel(args) -> None:
    from pathlib import Path

    from api.scaffold import ScaffoldError, new_channel

    try:
        written = new_channel(args.code, args.name, Path(args.dir), department=args.department)
    except ScaffoldError as exc:
        sys.exit(f"错误: {exc}")
    for path in written:
        print(f"已生成 {path}")
    print(f"下一步：编辑 {written[0]}，然后运行 python -m pytest {written[0].parent / 'tests'}")


def cmd_check_channel(args) -> None:
    import logging

    from api.conformance import run

    logging.disable(logging.WARNING)  # the platform's request log is not the author's business here
    results = asyncio.run(run(args.code, Path(args.dir) if args.dir else None, tests=not args.no_tests))
    for result in results:
        print(result.line())
    failed = sum(not r.ok for r in results)
    print(f"渠道 {args.code}：{len(results) - failed} 项通过，{failed} 项失败" if failed else
          f"渠道 {args.code}：全部 {len(results)} 项通过")
    sys.exit(1 if failed else 0)


def cmd_plugins(args) -> None:
    """The installed channels and plugins, as ``pytest --trace-config`` lists its plugins."""
    import msgspec

    from core.plugins import Channels, describe_plugins, get_plugin_manager

    pm = get_plugin_manager()
    infos = describe_plugins(pm, Channels(pm))
    if args.json:
        print(msgspec.json.encode(infos).decode())
        return
    for info in infos:
        origin = f"（来自安装包 {info.distribution}）" if info.distribution else ("（内置）" if info.builtin else "")
        print(f"{info.name} {info.version}{origin}")
        for label, items in (("渠道", [f"{c.name}（{c.code}）" for c in info.channels]), ("钩子", info.hooks),
                             ("路由", info.routes), ("后台任务", info.jobs)):
            if items:
                print(f"  {label}：{'，'.join(items)}")


def cmd_train_dispatch(args) -> None:
    from core.suggestions import TARGETS, train

    async def run():
        platform = _platform()
        await _migrate(platform)
        try:
            return [await train(target, keep=platform.settings.dispatch_models_kept) for target in TARGETS]
        finally:
            await platform.stop()

    for result in asyncio.run(run()):
        name = "派单模型" if result["target"] == "department" else "分类模型"
        if result["trained"]:
            print(f"{name} v{result['version']}: {result['examples']} 条样本，"
                  f"accuracy@1={result['accuracy_at_1']:.2f} accuracy@3={result['accuracy_at_3']:.2f}")
        else:
            print(f"{name}未训练：{result['message']}")


def cmd_eval_dispatch(args) -> None:
    from core.suggestions import cross_validate, load_lexicon, read_labelled_csv

    try:
        examples = read_labelled_csv(args.data)
    except (OSError, ValueError) as exc:
        sys.exit(f"错误: {exc}")
    if len(examples) < args.folds or len({e.label for e in examples}) < 2:
        sys.exit("错误: 样本太少，无法交叉验证")
    result = cross_validate(examples, load_lexicon(), k=args.folds, use_category=False)
    print(f"accuracy@1={result['accuracy_at_1']:.2f} accuracy@3={result['accuracy_at_3']:.2f}")
    print(f"（{result['examples']} 条，{result['folds']} 折分层交叉验证，每条由没见过它的模型预测）", file=sys.stderr)


def cmd_backup(args) -> None:
    from core.backup import BackupError, backup
    from core.settings import load_settings

    try:
        manifest = asyncio.run(backup(load_settings(), args.file))
    except BackupError as exc:
        sys.exit(f"备份失败: {exc}")
    print(f"已备份到 {args.file}（{manifest['backend']} 数据库，附件 {manifest['attachments']} 个）")
    if manifest["missing_attachments"]:
        print(f"注意：{len(manifest['missing_attachments'])} 个附件记录缺少文件，例如 "
              f"{manifest['missing_attachments'][0]}（请运行 huying check）", file=sys.stderr)


def cmd_restore(args) -> None:
    from core.backup import BackupError, restore
    from core.settings import load_settings

    try:
        manifest = asyncio.run(restore(load_settings(), args.file, force=args.force))
    except BackupError as exc:
        sys.exit(f"恢复失败: {exc}")
    asyncio.run(_migrate(_platform()))  # a backup from an older release is brought up to date
    print(f"已从 {args.file} 恢复（备份时间 {manifest['created_at']}，附件 {manifest['attachments']} 个）")


def cmd_check(args) -> None:
    from core.healthcheck import monthly_check

    async def run():
        import getpass

        from core import inspections

        platform = _platform()
        await platform.start()
        try:
            findings = await monthly_check(platform)
            try:  # kept as the month's inspection record (not when the database is behind on migrations)
                await inspections.keep(findings, f"命令行（{getpass.getuser()}）")
            except Exception as exc:
                print(f"巡检结果未能保存：{type(exc).__name__}", file=sys.stderr)
            return findings
        finally:
            await platform.stop()

    findings = asyncio.run(run())
    for finding in findings:
        mark = "异常" if not finding["ok"] else "警告" if finding.get("warning") else "通过"
        print(f"[{mark}] {finding['name']}：{finding['detail']}")
    failed = [f for f in findings if not f["ok"]]
    warned = [f for f in findings if f.get("warning")]
    if failed:
        print(f"共 {len(findings)} 项，{len(failed)} 项异常" + (f"，{len(warned)} 项警告" if warned else ""))
        sys.exit(1)  # a failure
    if warned:
        print(f"共 {len(findings)} 项，无异常，{len(warned)} 项警告")
        sys.exit(2)  # warnings only
    print(f"共 {len(findings)} 项，全部通过")


def cmd_calendar_import(args) -> None:
    """The State Council's schedule of a year from a JSON file: {"year": 2027, "holidays": [...],
    "workdays": [...]}, each day "YYYY-MM-DD" or {"date": ..., "name": ...}."""
    import json

    from core import calendar_admin
    from core.errors import HuyingError
    from core.model import Actor

    try:
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        sys.exit(f"错误: 无法读取 {args.file}：{exc}")
    if not isinstance(data, dict) or not isinstance(data.get("year"), int) or set(data) - {"year", "holidays", "workdays"}:
        sys.exit('错误: 文件须为 {"year": 2027, "holidays": [...], "workdays": [...]}')

    async def run():
        platform = _platform()
        await platform.start()
        try:
            return await calendar_admin.import_year(platform, data["year"], data.get("holidays", []),
                                                    data.get("workdays", []),
                                                    Actor(name="命令行导入", role="admin", kind="system"))
        finally:
            await platform.stop()

    try:
        result = asyncio.run(run())
    except HuyingError as refused:
        problems = "；".join(f"{e.key}: {e.message}" for e in getattr(refused, "errors", [])) or refused.detail
        sys.exit(f"导入失败: {problems}")
    print(f"已导入 {result['year']} 年节假日安排：放假 {result['holidays']} 天，调休上班 {result['workdays']} 天；"
          f"{result['moved_orders']} 件在办工单的时限随之调整")


def cmd_import_history(args) -> None:
    from core.history_import import (Mapping, MappingError, import_history, init_mapping, iter_lines,
                                     mapping_text, read_source)
    from core.tables import Department

    async def run():
        platform = _platform()
        await _migrate(platform)
        try:
            if args.init_mapping:
                files = [read_source(f) for f in args.files]
                rows = await Department.select(Department.code, Department.name).order_by(Department.sort)
                mapping, comments = init_mapping(files, [(r["code"], r["name"]) for r in rows], platform.channels)
                return mapping, comments
            mapping = Mapping.load(args.mapping, platform)
            return await import_history(platform, mapping, args.files, dry_run=args.dry_run,
                                        refused=args.refused, progress=not args.quiet)
        finally:
            await platform.stop()

    if bool(args.init_mapping) == bool(args.mapping):
        sys.exit("错误: 请给出 --init-mapping MAPPING（生成映射文件）或 --mapping MAPPING（按映射导入）之一")
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        sys.exit(f"错误: 文件不存在：{'、'.join(map(str, missing))}")
    if args.init_mapping and Path(args.init_mapping).exists() and not args.force:
        sys.exit(f"错误: {args.init_mapping} 已存在（编辑它，或加 --force 覆盖）")
    try:
        result = asyncio.run(run())
    except (MappingError, OSError) as exc:
        sys.exit(f"错误: {exc}")
    if args.init_mapping:
        mapping, comments = result
        Path(args.init_mapping).write_text(mapping_text(mapping, comments), encoding="utf-8")
        unknown = sum(1 for section, values in mapping.items() if section not in ("import", "columns", "categories")
                      for v in values.values() if not v)
        print(f"已生成映射文件 {args.init_mapping}：识别 {sum(1 for v in mapping['columns'].values() if v)} 列，"
              f"{unknown} 个取值待填写（标注“未识别”的行）")
        return
    report = result
    if args.dry_run:
        for line in iter_lines(report):
            print(line)
    else:
        for line in iter_lines(report):
            if "拒绝" in line:
                print(line)
    t = report.totals
    verb = "试运行（未写入）" if args.dry_run else f"已导入 {t['written']} 张"
    print(f"共 {t['rows']} 行：可导入 {t['ok']}，已导入过（合并跳过）{t['merged']}，拒绝 {t['refused']}；{verb}，"
          f"用时 {report.seconds:.1f} 秒")
    if report.refused_file:
        print(f"被拒绝的行已写入 {report.refused_file}（原列加“拒绝原因”，改正后可再次导入）")


def cmd_reindex(args) -> None:
    import datetime as dt

    from core.reindex import reindex

    try:
        since = dt.date.fromisoformat(args.since) if args.since else None
    except ValueError:
        sys.exit("错误: --since 须为日期，如 2024-01-01")

    async def run():
        platform = _platform()
        await _migrate(platform)
        try:
            return await reindex(platform, since, progress=not args.quiet)
        finally:
            await platform.stop()

    print(f"已重建 {asyncio.run(run())} 张工单的搜索索引")


def cmd_purge(args) -> None:
    """保管期限到期工单: ``--dry-run`` shows what would be destroyed per rule; ``--confirm`` destroys it
    as the admin named by ``--operator``, with a progress line, and writes the destruction register."""
    if args.dry_run == args.confirm:
        sys.exit("错误: 请选择 --dry-run（只查看）或 --confirm（执行销毁）其中之一")
    if args.confirm and not args.operator:
        sys.exit("错误: 执行销毁须用 --operator 指明操作的管理员用户名")

    async def run():
        from core.model import Actor
        from core.tables import User

        platform = _platform()
        await _migrate(platform)
        try:
            summary = await platform.retention.summary()
            if not summary:
                print("没有保管规则：全部工单长期保存，没有可销毁的工单")
                return
            total = sum(r["count"] for r in summary)
            for r in summary:
                span = f"，归档于 {r['oldest']} 至 {r['newest']}" if r["count"] else ""
                print(f"{r['label']}（归档后 {r['years']} 年，依据：{r['basis']}）：到期 {r['count']} 件{span}")
            print(f"合计 {total} 件")
            if args.dry_run:
                print("（仅查看，未销毁任何工单）")
                return
            user = await User.select().where(User.username == args.operator).first()
            if user is None or not user["active"] or user["role"] != "admin":
                sys.exit(f"错误: {args.operator} 不是在用的管理员账号，不能执行销毁")
            operator = Actor(name=user["username"], role=user["role"], department=user["department"])

            def progress(done: int) -> None:
                print(f"\r已销毁 {done}/{total} 件", end="", flush=True)

            done = await platform.retention.purge(operator, via="cli", progress=progress)
            print(f"\n完成：销毁 {done['destroyed']} 件工单，删除附件文件 {done['files']} 个，销毁清册第 {done['id']} 号"
                  f"（管理控制台 系统管理 → 保管期限 可下载）")
        finally:
            await platform.stop()

    asyncio.run(run())


def cmd_cti_simulate(args) -> None:
    import time

    from api.cti_simulator import Simulator, summary

    simulator = Simulator(args.url, args.token, extensions=[e for e in args.extensions.split(",") if e],
                          speed=args.speed, duplicates=args.duplicates, seed=args.seed)
    began = time.monotonic()
    result = asyncio.run(simulator.run(args.calls, args.rate, lines=args.lines, seconds=args.seconds))
    print(summary(result, time.monotonic() - began))
    for error in result.errors[:10]:
        print("  " + error)
    if result.errors:
        sys.exit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huying", description="呼应 Huying: 12345 热线工单平台")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="迁移数据库后启动 HTTP 服务")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="HTTP 工作进程数（多进程共用同一数据库）")
    serve.add_argument("--demo", action="store_true", help="数据库为空时写入演示数据")
    serve.add_argument("--orders", type=int, default=300, help="演示工单数量")
    serve.add_argument("--calls", action="store_true", help="与 --demo 一起：接入模拟交换机，持续来电（agent 接听时弹屏）")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="运行后台任务（需要 HUYING_REDIS_URL）")
    worker.add_argument("--burst", action="store_true", help="处理完队列后退出")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="把数据库迁移到最新版本").set_defaults(func=cmd_migrate)

    run_job = sub.add_parser("run-job", help="立即运行一次后台任务（如 sla_sweep）")
    run_job.add_argument("name", nargs="?")
    run_job.add_argument("--list", action="store_true", help="列出全部后台任务及其计划")
    run_job.set_defaults(func=cmd_run_job)

    demo = sub.add_parser("demo", help="写入演示单位、用户和工单")
    demo.add_argument("--orders", type=int, default=300)
    demo.set_defaults(func=cmd_demo)

    sub.add_parser("train-dispatch", help="用历史工单重新训练派单和分类建议模型").set_defaults(
        func=cmd_train_dispatch)
    evaluate = sub.add_parser("eval-dispatch", help="在带标注的 CSV 上评估建议模型（交叉验证）")
    evaluate.add_argument("--data", required=True, help="列为 id,user,subject,time,detail,category 的 CSV")
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.set_defaults(func=cmd_eval_dispatch)


    backup = sub.add_parser("backup", help="备份数据库和附件到一个文件（服务运行中也可执行）")
    backup.add_argument("file", type=Path)
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser("restore", help="从备份文件恢复数据库和附件（请先停止服务）")
    restore.add_argument("file", type=Path)
    restore.add_argument("--force", action="store_true", help="目标数据库已有工单时也覆盖")
    restore.set_defaults(func=cmd_restore)

    sub.add_parser("check", help="月度健康检查：迁移、完整性、孤立附件、发件箱、工作日历、磁盘（退出码 0 全部通过，1 有异常，2 仅有警告）").set_defaults(
        func=cmd_check)

    calendar = sub.add_parser("calendar", help="工作日历").add_subparsers(dest="calendar_command", required=True)
    imported = calendar.add_parser("import", help="导入国务院公布的某年节假日安排（JSON 文件）")
    imported.add_argument("file")
    imported.set_defaults(func=cmd_calendar_import)

    history = sub.add_parser("import-history", help="导入原系统的历史工单（CSV、XLSX），先生成并编辑映射文件")
    history.add_argument("files", nargs="+", type=Path, metavar="FILE")
    history.add_argument("--init-mapping", metavar="MAPPING", help="按文件表头和取值生成映射文件")
    history.add_argument("--mapping", metavar="MAPPING", help="按此映射文件导入")
    history.add_argument("--dry-run", action="store_true", help="逐行检查并报告结果，不写入")
    history.add_argument("--refused", type=Path, help="被拒绝行写入的文件（默认：<第一个文件>.refused.csv）")
    history.add_argument("--force", action="store_true", help="覆盖已有的映射文件")
    history.add_argument("--quiet", action="store_true", help="不显示进度条")
    history.set_defaults(func=cmd_import_history)

    reindex = sub.add_parser("reindex", help="重建工单搜索索引（服务运行中也可执行）")
    reindex.add_argument("--since", metavar="YYYY-MM-DD", help="只重建此日期及以后受理的工单")
    reindex.add_argument("--quiet", action="store_true", help="不显示进度条")
    reindex.set_defaults(func=cmd_reindex)

    purge = sub.add_parser("purge", help="按保管期限销毁到期的归档工单（先 --dry-run 查看），写入销毁清册")
    purge.add_argument("--dry-run", action="store_true", help="只列出各规则到期的件数和归档日期范围，不做任何修改")
    purge.add_argument("--confirm", action="store_true", help="执行销毁（不可恢复）")
    purge.add_argument("--operator", metavar="NAME", help="执行销毁的管理员用户名（记入销毁清册）")
    purge.set_defaults(func=cmd_purge)

    user = sub.add_parser("user", help="用户管理").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="添加用户")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=list(ROLES))
    add.add_argument("--department")
    add.add_argument("--password", required=True)
    add.set_defaults(func=cmd_user_add)
    cti = sub.add_parser("cti", help="电话系统对接").add_subparsers(dest="cti_command", required=True)
    simulate = cti.add_parser("simulate", help="模拟电话交换机：向运行中的服务推送振铃、接听、挂断、录音事件")
    simulate.add_argument("--url", default="http://127.0.0.1:8000", help="服务地址")
    simulate.add_argument("--token", required=True, help="添加对接时返回的令牌（POST /api/cti/connections）")
    simulate.add_argument("--calls", type=int, default=20, help="通话数")
    simulate.add_argument("--rate", type=float, default=1.0, help="每秒新来电数")
    simulate.add_argument("--lines", type=int, default=20, help="同时通话的线路数")
    simulate.add_argument("--seconds", type=float, help="只在这么多秒内发起新来电")
    simulate.add_argument("--speed", type=float, default=1.0, help="快放倍数（事件时间戳仍按模拟时间）")
    simulate.add_argument("--extensions", default="8001,8002,8003,8004", help="接听的话务员分机号，逗号分隔")
    simulate.add_argument("--duplicates", type=float, default=0.02, help="重发事件的比例（交换机重试）")
    simulate.add_argument("--seed", type=int, help="随机种子（可重复的话务）")
    simulate.set_defaults(func=cmd_cti_simulate)
    channel = sub.add_parser("new-channel", help="生成一个新专线插件（字段、派单规则、时限和可运行的测试）")
    channel.add_argument("code", help="渠道代码，如 water_supply")
    channel.add_argument("--name", required=True, help="中文名称，如 供水专线")
    channel.add_argument("--dir", default="plugins", help="生成到哪个目录（默认 plugins/）")
    channel.add_argument("--department", default="general_office", help="派单规则建议的承办单位代码")
    channel.set_defaults(func=cmd_new_channel)
    plugins = sub.add_parser("plugins", help="列出已安装的渠道和插件：版本、实现的钩子、路由和后台任务")
    plugins.add_argument("--json", action="store_true", help="以 JSON 输出（与 GET /api/plugins 相同）")
    plugins.set_defaults(func=cmd_plugins)
    check_channel = sub.add_parser("check-channel", help="在临时数据库上检查一个专线插件是否符合约定"
                                                         "（注册、字段、表单、接口、演示数据、时限与派单规则、自带测试；退出码 0 全部通过，1 有失败）")
    check_channel.add_argument("code", help="渠道代码，如 water_supply")
    check_channel.add_argument("--dir", help="渠道包所在目录（new-channel --dir 生成到别处时；默认按已安装插件查找）")
    check_channel.add_argument("--no-tests", action="store_true", help="不运行渠道自带的 tests/")
    check_channel.set_defaults(func=cmd_check_channel)
    return parser


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF)
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
