"""Huying core: the order lifecycle, persistence, routing, SLA clocks, jobs and the hook specifications."""
