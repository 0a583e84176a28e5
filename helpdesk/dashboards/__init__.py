"""Console dashboards: SLA compliance, backlog, response times, logged time, hours per client.

``queries`` aggregates in the database; ``svg`` draws the charts on the server (no script).
"""
