"""The people who answer the line: training (已培训上岗), teams and shifts, the rota built from the
forecast, per-agent figures and quality inspection (质检)."""
