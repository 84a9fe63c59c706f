"""Print the dask dashboard link a notebook's client shows (MsPASS's Client, as documented)."""

from mspasspy.client import Client

print("dashboard:", Client().get_scheduler().dashboard_link)
