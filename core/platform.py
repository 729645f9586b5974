"""The assembled platform: settings, plugins, channels, calendar, SLA clock and the order service.

Built once per process (the API app, the worker, the CLI, a test) from a plugin manager, never at
import time, so a test can assemble one with extra plugins of its own.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from core.calendar import WorkCalendar
from core.callbacks import CallbackPolicy
from core.confidential import Sealer
from core.db import bind_engine, make_engine, prepare
from core.incidents import JobWatch
from core.meetings import Meetings
from core.orders import OrderService
from core.jobs import collect_jobs
from core.outbox import collect_deliverers
from core.plugins import Channels, get_plugin_manager
from core.routing import sync_plugin_rules
from core.search import load_dictionary
from core.site_visits import SiteVisits
from core.signin import SignInPolicy
from core.settings import Settings, load_settings
from core.sla import SlaClock
from core.surveys import Surveys
from core.areas import seed_if_empty as seed_areas
from core.categories import seed_if_empty as seed_categories
from core.knowledge import KnowledgeBase
from core.live import LiveBus
from core.telephony import Telephony
from core.suggestions import Learned
from core.services import OrderServices
from core.storage import LocalAttachmentStore
from core.retention import Retention


def _all_tables(base: type[Table] = Table) -> list[type[Table]]:
    found = []
    for sub in base.__subclasses__():
        found.append(sub)
        found.extend(_all_tables(sub))
    return found


async def _settled(handler, platform, message: dict) -> bool:
    return await handler(message, platform.settings)


class Platform:
    def __init__(self, settings: Settings | None = None, pm=None):
        self.settings = settings or load_settings()
        self.pm = pm or get_plugin_manager()
        self.channels = Channels(self.pm)
        self.calendar = WorkCalendar()
        self.sla = SlaClock(self.calendar, self.channels)
        self.engine = make_engine(self.settings.database_url)
        self.orders = OrderService(self.channels, self.sla,
                                   Sealer(self.settings.data_key or self.settings.secret_key), self.engine)
        self.orders.received_at_max_age = dt.timedelta(days=self.settings.received_at_max_age_days)
        self.orders.callbacks = CallbackPolicy.from_settings(self.settings)
        self.sign_in = SignInPolicy.from_settings(self.settings)
        self.deliverers = collect_deliverers(self.pm)
        self.jobs = collect_jobs(self.pm)
        # a deliverer with an ``in_transaction`` form settles its messages in the action's transaction
        # when it can (say, no gateway configured), read against the settings of the moment
        self.orders.at_once = {topic: functools.partial(_settled, deliver.in_transaction, self)
                               for topic, deliver in self.deliverers.items() if hasattr(deliver, "in_transaction")}
        self.orders.learned = Learned()
        self.site_visits = SiteVisits(self.orders)
        self.knowledge = KnowledgeBase(self.engine, self.orders.index.sealed, self.channels)
        self.surveys = Surveys(self)  # 满意率统计调查 (core/surveys.py)
        self.attachments = LocalAttachmentStore(Path(self.settings.var_dir) / "attachments")
        self.services = self.orders.services = OrderServices(self.orders, self.attachments)  # for plugins
        self.job_watch = JobWatch()
        self.live = LiveBus(self.settings.redis_url)  # events for open browsers (core/live.py)
        self.meetings = Meetings(self.orders)
        # CTI push, call log, the callback desk's 外呼 (core/telephony.py)
        self.telephony = Telephony(self.engine, self.live, orders=self.orders, settings=self.settings)
        # 保管期限 and the audited purge of what the rules allow (core/retention.py)
        self.retention = Retention(self.channels, self.pm, self.attachments, self.engine)

    async def start(self, *, pool: bool = False) -> None:
        """Bind the tables to this platform's engine and store the plugins' routing rules."""
        prepare(self.engine)
        bind_engine(self.engine, _all_tables())
        if pool and isinstance(self.engine, PostgresEngine):
            size = max(1, self.settings.db_pool_size)
            await self.engine.start_connection_pool(min_size=min(2, size), max_size=size)
        self.orders.forget_reference_data()
        directory = await self.orders.reference.directory()
        await self.channels.check_routing(directory)
        await sync_plugin_rules(self.channels, directory)
        await seed_categories(self.engine)
        await seed_areas(self.engine)
        load_dictionary()  # queries cut terms into words; the dictionary loads beside serving
        self.orders.index.start_repair()
        self.orders.forget_reference_data()
        await self.orders.sources.load()
        await self.load_calendar()

    async def migrate(self) -> None:
        """Bring this platform's database (the core's tables and its plugins') up to date."""
        from core.migrations import migrate

        await migrate(self.engine, self.pm)

    async def load_calendar(self) -> None:
        await self.sla.load_overrides()

    async def stop(self) -> None:
        await self.live.stop()
        if self.orders.index.repairing is not None and not self.orders.index.repairing.done():
            self.orders.index.repairing.cancel()
        if isinstance(self.engine, PostgresEngine) and self.engine.pool:
            await self.engine.close_connection_pool()
        if hasattr(self.engine, "close_idle"):
            await self.engine.close_idle()
