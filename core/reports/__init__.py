"""Statistics, KPIs, periodic reports, the real-time board, early warning and the staffing forecast."""
