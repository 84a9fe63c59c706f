"""How a user reaches a job's Jupyter and dashboard from their own computer.

Compute nodes are reached through a login node. `forward` (the default): the user runs the
ssh command the job prints, through the login node to the node (`-J`), since the dashboard
listens on the node's loopback in a secure job. `reverse`, for sites that refuse ssh from
login nodes to compute nodes (MsPASS's guide, its LOGIN_PORT, STATUS_PORT,
NUMBER_LOGIN_NODES and LOGIN_NODE_BASENAME): the job opens ssh tunnels from the nodes to
every login node, and the user forwards to the login node only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..settings import DEFAULT_PORTS
from .errors import HpcError

TUNNELS = ("forward", "reverse")
#: the ports of the user's computer: the usual ones, whatever the job's are
LOCAL = {"jupyter": DEFAULT_PORTS["JUPYTER_PORT"], "dask": DEFAULT_PORTS["DASK_DASHBOARD_PORT"],
         "spark": DEFAULT_PORTS["SPARK_MASTER_WEBUI_PORT"]}
#: the dask dashboard at the user's end of the printed tunnel: the link a notebook's dask client
#: shows (dask's distributed.dashboard.link), so that it opens on the user's computer
DASHBOARD_LINK = f"http://localhost:{LOCAL['dask']}/status"
#: the guide's variables for the login node's ports: Jupyter's, the dashboard's
LOGIN_PORTS = {"jupyter": "LOGIN_PORT", "dashboard": "STATUS_PORT"}


@dataclass
class Endpoint:
    name: str  # jupyter or dashboard
    host: str  # the node it runs on
    port: int  # its port there
    loopback: bool  # listens on the node's loopback only
    local: int  # its port on the user's computer
    path: str


class Access:
    def __init__(self, layout, placed: dict[str, str], role_env: dict[str, str], env: dict[str, str], job_id: str,
                 login: str, jupyter: bool):
        self.layout = layout
        self.env = env
        self.job_id = job_id
        domain = env.get("HOSTNAME_BASE", "").strip(".")
        if domain and login and "." not in login:  # reachable from outside by its full name
            login = f"{login}.{domain}"
        self.login = login or "LOGIN_NODE"
        spark = layout.scheduler == "spark"
        dashboard = Endpoint("dashboard", placed["scheduler"],
                             int(role_env["SPARK_MASTER_WEBUI_PORT" if spark else "DASK_DASHBOARD_PORT"]),
                             role_env.get("MSPASS_DASHBOARD_ADDRESS") == "127.0.0.1" and not spark,
                             LOCAL[layout.scheduler], "/" if spark else "/status")
        notebook = Endpoint("jupyter", placed["frontend"], int(role_env["JUPYTER_PORT"]), False, LOCAL["jupyter"], "/lab")
        self.endpoints = [notebook, dashboard] if jupyter else [dashboard]

    # ------------------------------------------------------------------ forward
    def forward_commands(self) -> list[str]:
        """One ssh per node whose pages listen on its loopback (through the login node),
        and one through the login node for the rest."""
        by_host: dict[str, list[Endpoint]] = {}
        for e in self.endpoints:
            if e.loopback:
                by_host.setdefault(e.host, [])
        for e in self.endpoints:
            if e.host in by_host:  # localhost there reaches it, loopback or not
                by_host[e.host].append(e)
        commands = [f"ssh -N -J {self.login} " + " ".join(f"-L {e.local}:localhost:{e.port}" for e in group) + f" {host}"
                    for host, group in by_host.items()]
        rest = [e for e in self.endpoints if e.host not in by_host]
        if rest:
            commands.append("ssh -N " + " ".join(f"-L {e.local}:{e.host}:{e.port}" for e in rest) + f" {self.login}")
        return commands

    # ------------------------------------------------------------------ reverse
    def login_nodes(self) -> list[str]:
        base = self.env.get("LOGIN_NODE_BASENAME", "").strip()
        count = self.env.get("NUMBER_LOGIN_NODES", "").strip()
        if not base:
            if self.login == "LOGIN_NODE":
                raise HpcError("--tunnel reverse needs the login nodes: set LOGIN_NODE_BASENAME (and "
                               "NUMBER_LOGIN_NODES for login1, login2, ...)")
            return [self.login.split(".")[0]]
        if not count:
            return [base]
        if not count.isdigit() or int(count) < 1:
            raise HpcError(f"NUMBER_LOGIN_NODES={count!r}; valid: a whole number of 1 or more")
        return [f"{base}{i}" for i in range(1, int(count) + 1)]

    def login_ports(self) -> dict[str, int]:
        """The ports on the login nodes: the user's (LOGIN_PORT, STATUS_PORT), else two
        from the job id between 40000 and 59999 (a login node is shared by every user)."""
        base = 40000 + (int(re.sub(r"\D", "", self.job_id) or 0) % 10000) * 2
        ports = {}
        for i, (name, variable) in enumerate(LOGIN_PORTS.items()):
            value = self.env.get(variable, "").strip() or str(base + i)
            if not value.isdigit() or not 1024 <= int(value) <= 65535:
                raise HpcError(f"{variable}={value!r}; valid: a port from 1024 to 65535")
            ports[name] = int(value)
        return ports

    def reverse_tunnels(self) -> list[tuple[str, str, list[str]]]:
        """(name, node, ssh argv) of each tunnel the job opens: from the node of each page
        (the dashboard may listen on its loopback only) to every login node. ssh exits, and
        the job fails, when a login node refuses or its port is taken."""
        if self.layout.tunnel != "reverse":
            return []
        ports = self.login_ports()
        by_host: dict[str, list[Endpoint]] = {}
        for e in self.endpoints:
            by_host.setdefault(e.host, []).append(e)
        tunnels = []
        for login in self.login_nodes():
            for host, group in by_host.items():
                forwards = [w for e in group for w in ("-R", f"{ports[e.name]}:localhost:{e.port}")]
                name = f"tunnel-{login}" if len(by_host) == 1 else f"tunnel-{login}-{host}"
                tunnels.append((name, host, ["ssh", "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                                             "-o", "ServerAliveInterval=60", *forwards, login]))
        return tunnels

    def reverse_command(self) -> str:
        ports = self.login_ports()
        return ("ssh -N " + " ".join(f"-L {e.local}:localhost:{ports[e.name]}" for e in self.endpoints)
                + f" {self.login_nodes()[0]}")

    # ------------------------------------------------------------------ for the user
    def commands(self) -> list[str]:
        return [self.reverse_command()] if self.layout.tunnel == "reverse" else self.forward_commands()

    def describe(self) -> dict:
        """For the job file: where each page runs, and the tunnel to it."""
        dashboard = self.endpoints[-1]
        return {"dashboard": f"http://{dashboard.host}:{dashboard.port}{dashboard.path}",
                "tunnel": self.commands(),
                "open": {e.name: f"http://localhost:{e.local}{e.path}" for e in self.endpoints}}

    def message(self, jupyter_query: str | None) -> str:
        """What the job's output says once a page runs; Jupyter's with its token."""
        names = [e.name for e in self.endpoints] if jupyter_query is not None else ["dashboard"]
        shown = [e for e in self.endpoints if e.name in names]
        what = " and ".join("Jupyter" if e.name == "jupyter" else f"the {self.layout.scheduler} dashboard"
                            for e in shown)
        where = ", ".join(sorted({e.host for e in shown}))
        lines = [f"{what} run{'s' if len(shown) == 1 else ''} on {where}. From your computer:"]
        commands = self.commands()
        if jupyter_query is None and self.layout.tunnel == "forward":
            commands = [c for c in commands if any(f"-L {e.local}:" in c for e in shown)]
        lines += [f"    {c}" for c in commands]
        opened = []
        for e in shown:
            query = f"?{jupyter_query}" if e.name == "jupyter" and jupyter_query else ""
            opened.append(f"http://localhost:{e.local}{e.path}{query}")
        lines.append(f"  then open {' and '.join(opened)}")
        return "\n".join(lines)
