"""`mspass-desktop`: start, show and stop MsPASS on a laptop (Docker SDK for Python).

    mspass-desktop [-c FILE] [-v]    MsPASS for the current directory until Ctrl-C (as MsPASS's
                                     own launcher does when typed bare)
    mspass-desktop up [WORKDIR]      the all-in-one container, WORKDIR as its work dir
    mspass-desktop run NOTEBOOK      a batch run (in the running container, or a fresh one)
    mspass-desktop down              stop it; the database shuts down cleanly

Settings come from options, else from the file -c names, else from mspass-desktop.toml in
the work dir, else from the user's config dir (~/.config/mspass/mspass-desktop.toml), else
defaults. -c also reads MsPASS's own launcher configuration (MsPASSDesktopGUI.yaml).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
import urllib.parse
import webbrowser
from dataclasses import dataclass, fields
from pathlib import Path

from . import __version__
from .settings import DEFAULT_PORTS

PROG = "mspass-desktop"
LABEL = "io.mspass.desktop"
CONFIG_NAME = "mspass-desktop.toml"
SCHEDULERS = ("dask", "spark")
HOME = "/home"  # the work dir inside the image
#: seconds docker waits before killing: every service's grace in turn (Jupyter, worker and
#: scheduler 10 s each, the database MSPASS_STOP_TIMEOUT=60 s), then a tmp database's copy
STOP_TIMEOUT = 120


class DesktopError(Exception):
    """A problem to report in one message; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass
class Options:
    workdir: Path
    image: str = "mspass:latest"
    name: str = "mspass"
    scheduler: str = "dask"
    port: int = DEFAULT_PORTS["JUPYTER_PORT"]
    dashboard_port: int = DEFAULT_PORTS["DASK_DASHBOARD_PORT"]
    cpus: float | None = None
    memory: str | None = None
    browser: bool = True
    #: which browser opens Jupyter, by the name Python's webbrowser module knows (e.g. firefox);
    #: None: the system's default (or $BROWSER)
    web_browser: str | None = None
    db_volume: str | None = None


#: keys of MsPASS's own launcher configuration (MsPASSDesktopGUI.yaml) that -c reads: those that
#: mean something here, and those of its GUI and Compose set-up that have nothing to set here
MSPASS_GUI_KEYS = {"web_browser": "web_browser"}
MSPASS_GUI_IGNORED = {
    "minimum_window_size_x": "no window", "minimum_window_size_y": "no window", "grid_padding": "no window",
    "docker_compose_yaml_file": "one all-in-one container, no Compose file",
    "engine_startup_delay_time": "readiness is asked of the services, not waited for",
    "status_monitor_time_interval": "the container's own health check watches the services",
}


# ---------------------------------------------------------------------- settings
def config_files(workdir: Path) -> list[Path]:
    user_dir = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "mspass"
    return [workdir / CONFIG_NAME, user_dir / CONFIG_NAME]  # first found wins, key by key


def mspass_gui_config(path: Path, text: str) -> dict:
    """MsPASS's own launcher configuration (YAML): the keys that mean something here; the
    others are said once, with why they do not apply."""
    from .hpc.yamlfile import YamlError, load

    try:
        data = load(text, str(path))
    except YamlError as err:
        raise DesktopError(str(err), 2) from err
    run_dir = data.pop("container_run_directory", HOME)
    if run_dir != HOME:
        raise DesktopError(f"{path}: container_run_directory={run_dir!r}; valid: {HOME} (the image's work dir)", 2)
    ignored = sorted(set(data) & set(MSPASS_GUI_IGNORED))
    if ignored:
        print(f"{PROG}: {path}: not used here: " + "; ".join(f"{k} ({MSPASS_GUI_IGNORED[k]})" for k in ignored),
              file=sys.stderr)
    return {MSPASS_GUI_KEYS.get(k, k): v for k, v in data.items() if k not in MSPASS_GUI_IGNORED}


def load_config(workdir: Path, given: Path | None = None) -> dict:
    """Settings from config files: the one -c names, else the work dir's over the user's."""
    import tomllib

    merged: dict = {}
    known = {f.name for f in fields(Options)} - {"workdir"}
    if given is not None and not given.is_file():
        raise DesktopError(f"-c {given}: no such file", 2)
    for path in [given] if given is not None else reversed(config_files(workdir)):
        if not path.is_file():
            continue
        try:
            text = path.read_text()
            data = mspass_gui_config(path, text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise DesktopError(f"{path}: {err}", 2) from err
        unknown = sorted(set(data) - known)
        if unknown:
            raise DesktopError(f"{path}: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}", 2)
        merged.update(data)
    return merged


def resolve_options(args: argparse.Namespace) -> Options:
    workdir = Path(getattr(args, "workdir", None) or os.getcwd()).expanduser().resolve()
    given = getattr(args, "config_file", None)
    values = load_config(workdir, Path(given).expanduser() if given else None)
    for field in fields(Options):
        given = getattr(args, field.name, None)
        if given is not None and field.name != "workdir":
            values[field.name] = given
    opts = Options(workdir=workdir, **values)
    problems = []
    if opts.scheduler not in SCHEDULERS:
        problems.append(f"scheduler {opts.scheduler!r} is not one of {', '.join(SCHEDULERS)}")
    for what in ("port", "dashboard_port"):
        if not 1 <= int(getattr(opts, what)) <= 65535:
            problems.append(f"{what} {getattr(opts, what)!r} is not a port (1-65535)")
    if opts.cpus is not None and not float(opts.cpus) > 0:
        problems.append(f"cpus {opts.cpus!r} must be a positive number")
    if problems:
        raise DesktopError("; ".join(problems), 2)
    return opts


def check_workdir(workdir: Path) -> None:
    if not workdir.is_dir():
        raise DesktopError(f"the work dir {workdir} does not exist or is not a directory", 2)
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise DesktopError(f"the work dir {workdir} is not writable by you (uid {os.getuid()}); "
                           "choose another directory or fix its permissions", 2)


# ---------------------------------------------------------------------- docker
def docker_client():
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as err:  # e.g. inside the image, which does not need it
        raise DesktopError(f"{PROG} runs on the host and needs the Docker SDK for Python: "
                           "pip install 'mspass-roles[launchers]'", code=2) from err

    try:
        client = docker.from_env()
        client.ping()
        return client
    except DockerException as err:
        raise DesktopError(docker_unreachable(err)) from err


def docker_socket() -> str:
    """The socket the Docker SDK talks to: DOCKER_HOST's, else Docker's usual one."""
    return (os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock").removeprefix("unix://")


def docker_unreachable(err: Exception) -> str:
    """Why Docker cannot be reached, in the user's terms. The SDK wraps the socket's own error
    (PermissionError: not in the docker group; FileNotFoundError, ConnectionRefusedError:
    no daemon) in a DockerException, often only as text."""
    socket_path = docker_socket()
    causes, seen = [], err
    while seen is not None and len(causes) < 10:
        causes.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = str(err)
    if any(isinstance(c, PermissionError) for c in causes) or "PermissionError" in text or "Permission denied" in text:
        user = os.environ.get("USER") or str(os.getuid())
        return (f"you ({user}) may not use Docker's socket {socket_path}: add yourself to the docker group "
                "(sudo usermod -aG docker $USER, then log in again)")
    return (f"Docker is not running or not reachable at {socket_path} ({err.__class__.__name__}). Start Docker "
            "(Docker Desktop, or `sudo service docker start`) and try again.")


def find_image(client, image: str):
    from docker.errors import ImageNotFound

    try:
        return client.images.get(image)
    except ImageNotFound as err:
        raise DesktopError(f"the image {image} is not on this machine. Build it with `make build` in the MsPASS "
                           f"container repository, or pass --image NAME.") from err


def image_contents(image) -> str:
    """What an image holds, from its labels: the MsPASS version and the database engine."""
    labels = image.labels or {}
    mspasspy = labels.get("io.mspass.mspasspy-version", "unknown")
    return (f"mspasspy {mspasspy}" if mspasspy != "none" else "no mspasspy") + \
        f", database {labels.get('io.mspass.db-engine', 'unknown')}"


def existing(client, name: str):
    from docker.errors import NotFound

    try:
        return client.containers.get(name)
    except NotFound:
        return None


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(preferred: int, taken: set[int]) -> int:
    """The preferred port if free on 127.0.0.1, else the next free one above it."""
    port = preferred
    while port in taken or not port_free(port):
        port += 1
        if port > 65535:
            raise DesktopError(f"no free port from {preferred} up")
    return port


# ---------------------------------------------------------------------- the container
def published_ports(opts: Options) -> dict[str, tuple[str, int]]:
    """Container port -> (127.0.0.1, host port): loopback only, moved when taken."""
    taken: set[int] = set()
    ports = {}
    # the image's services listen on the default ports
    jupyter, dashboard, spark_ui = (f"{DEFAULT_PORTS[name]}/tcp" for name in
                                    ("JUPYTER_PORT", "DASK_DASHBOARD_PORT", "SPARK_MASTER_WEBUI_PORT"))
    for container_port, preferred in ((jupyter, opts.port), (dashboard, opts.dashboard_port)):
        host_port = free_port(preferred, taken)
        if host_port != preferred:
            print(f"{PROG}: port {preferred} is taken; using {host_port}", file=sys.stderr)
        taken.add(host_port)
        ports[container_port] = ("127.0.0.1", host_port)
    if opts.scheduler == "spark":  # the dashboard port shows the Spark master's web UI
        ports[spark_ui] = ports.pop(dashboard)
    return ports


def container_environment(opts: Options, ports: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
    env = {"MSPASS_SCHEDULER": opts.scheduler, "MSPASS_NODE_NAME": opts.name}
    dashboard = (ports or {}).get(f"{DEFAULT_PORTS['DASK_DASHBOARD_PORT']}/tcp")
    if dashboard and opts.scheduler == "dask":
        # the link a notebook's dask client shows: where this computer's browser reaches it
        env["DASK_DISTRIBUTED__DASHBOARD__LINK"] = f"http://{dashboard[0]}:{dashboard[1]}/status"
    if opts.memory:
        env["MSPASS_DASK_WORKER_MEMORY_LIMIT"] = "auto"  # dask sizes itself from the cgroup limit
    if opts.db_volume:
        env["MSPASS_DB_DIR"] = "/data/db"
    return env


def container_kwargs(opts: Options, ports: dict[str, tuple[str, int]] | None = None) -> dict:
    volumes = {str(opts.workdir): {"bind": HOME, "mode": "rw"}}
    if opts.db_volume:
        volumes[opts.db_volume] = {"bind": "/data/db", "mode": "rw"}
    kwargs = {
        "user": f"{os.getuid()}:{os.getgid()}",  # files in the work dir stay the user's
        "volumes": volumes,
        "environment": container_environment(opts, ports),
        "hostname": opts.name,
        "labels": {LABEL: "1", f"{LABEL}.workdir": str(opts.workdir)},
        "stop_signal": "SIGTERM",
    }
    if opts.cpus:
        kwargs["nano_cpus"] = int(float(opts.cpus) * 1e9)
    if opts.memory:
        kwargs["mem_limit"] = opts.memory
    return kwargs


def prepare_db_volume(client, opts: Options) -> None:
    """A named volume starts root-owned; give it to the user once."""
    if not opts.db_volume:
        return
    client.volumes.create(opts.db_volume, labels={LABEL: "1"})
    client.containers.run(opts.image, ["chown", f"{os.getuid()}:{os.getgid()}", "/data/db"], user="0:0",
                          volumes={opts.db_volume: {"bind": "/data/db", "mode": "rw"}}, remove=True)


def stop_and_remove(container) -> None:
    """A graceful stop first (SIGTERM: the database shuts down cleanly), then removal."""
    try:
        container.stop(timeout=STOP_TIMEOUT)
    finally:
        container.remove(force=True)


def role_state(container) -> dict:
    """The roles' state files, as `mspass-role health --json` prints them in the container
    (readiness, each service's answer and URLs): {"healthy": bool, "roles": [...]}."""
    result = container.exec_run(["mspass-role", "health", "--json"], stdout=True, stderr=False)
    try:
        return json.loads(result.output.decode(errors="replace"))
    except ValueError:
        return {"healthy": False, "roles": []}


def wait_healthy(container, timeout: float = 300) -> dict:
    """Wait until every service answers its readiness question; show progress; return
    the state."""
    spinner = "|/-\\"
    deadline = time.monotonic() + timeout
    i = 0
    while True:
        container.reload()
        if container.status != "running":
            logs = container.logs(tail=60).decode(errors="replace")
            raise DesktopError(f"the container stopped ({container.status}); its last lines:\n{logs}")
        found = role_state(container)
        if found["healthy"]:
            print("\r", end="", file=sys.stderr)
            return found
        if time.monotonic() > deadline:
            raise DesktopError(f"not healthy after {timeout:.0f} s; see `{PROG} logs`")
        if sys.stderr.isatty():
            print(f"\r{PROG}: starting {spinner[i % 4]}", end="", file=sys.stderr, flush=True)
        i += 1
        time.sleep(0.5)


def urls(container, found: dict | None = None) -> dict[str, str]:
    """The services' URLs from their state, as the host reaches them: each on the port it is
    published on (those not published are left out)."""
    container.reload()
    if container.status != "running":
        return {}
    ports = container.attrs["NetworkSettings"]["Ports"] or {}
    out = {}
    for data in (found or role_state(container))["roles"]:
        for service in data["services"]:
            for what, url in service.get("urls", {}).items():
                parts = urllib.parse.urlsplit(url)
                bound = ports.get(f"{parts.port}/tcp") or []
                if bound:
                    out[what] = parts._replace(netloc=f"127.0.0.1:{bound[0]['HostPort']}").geturl()
    return out


def running_container(client, opts: Options):
    container = existing(client, opts.name)
    if container is None or container.status != "running":
        raise DesktopError(f"MsPASS is not running (no running container {opts.name!r}); start it with "
                           f"`{PROG} up`")
    return container


# ---------------------------------------------------------------------- commands
def cmd_up(opts: Options) -> int:
    check_workdir(opts.workdir)
    client = docker_client()
    image = find_image(client, opts.image)
    found = existing(client, opts.name)
    if found is not None:
        state = "running" if found.status == "running" else f"stopped ({found.status})"
        raise DesktopError(f"a container named {opts.name!r} exists already ({state}). "
                           + (f"See `{PROG} url`, or stop it with `{PROG} down`." if found.status == "running"
                              else f"Remove it with `docker rm {opts.name}`, or use --name."))
    prepare_db_volume(client, opts)
    ports = published_ports(opts)
    container = client.containers.run(opts.image, detach=True, name=opts.name, ports=ports,
                                      **container_kwargs(opts, ports))
    try:
        found = wait_healthy(container)
    except BaseException:  # also Ctrl-C: nothing half-started stays behind
        stop_and_remove(container)
        raise
    links = urls(container, found)
    print(f"MsPASS is running (container {opts.name}, {image_contents(image)}, work dir {opts.workdir}).")
    for what, url in links.items():
        print(f"  {what:<10} {url}")
    named = "" if opts.name == Options.name else f" --name {opts.name}"
    print(f"Stop it with `{PROG} down{named}`.")
    if opts.browser and "jupyter" in links:
        open_browser(opts, links["jupyter"])
    return 0


def open_browser(opts: Options, url: str) -> None:
    try:
        browser = webbrowser.get(opts.web_browser) if opts.web_browser else webbrowser
        opened = browser.open(url)
    except webbrowser.Error as err:
        opened = False
        print(f"{PROG}: web_browser={opts.web_browser!r}: {err}", file=sys.stderr)
    if not opened:
        print(f"{PROG}: no browser opened; open the jupyter URL above yourself", file=sys.stderr)


class _Ended(KeyboardInterrupt):
    """SIGTERM or SIGHUP (the terminal closed): handled as Ctrl-C is."""


def _end_session(signum, frame):
    raise _Ended(signal.Signals(signum).name)


def cmd_session(opts: Options, verbose: bool) -> int:
    """Bare `mspass-desktop`: MsPASS for the current directory while the user wants it.

    Starts the all-in-one container (or finds the one running under this name), prints
    its state and addresses, opens Jupyter, then stays in the foreground, showing the
    services' output with -v. Ctrl-C, SIGTERM or a closed terminal stop the container it
    started the way `down` does (the database shuts down cleanly; its files stay in the
    work dir); one it found running is left running."""
    client = docker_client()
    found = existing(client, opts.name)
    started = found is None or found.status != "running"
    if verbose:
        print(f"{PROG}: settings: " + ", ".join(f"{f.name}={getattr(opts, f.name)}" for f in fields(Options)),
              file=sys.stderr)
    previous = {sig: signal.signal(sig, _end_session) for sig in (signal.SIGTERM, signal.SIGHUP)}
    container = None
    try:
        if started:
            cmd_up(opts)  # ended while it starts: it removes what it started
            container = existing(client, opts.name)
            print("Press Ctrl-C to stop MsPASS (the database shuts down cleanly).", flush=True)
        else:
            container = found
            print(f"MsPASS already runs in container {opts.name} (work dir "
                  f"{found.labels.get(f'{LABEL}.workdir', '?')}); ending this leaves it running.")
            cmd_status(opts)
        # the services' output until the container ends (or the user ends us)
        for chunk in container.logs(stream=True, follow=True, since=int(time.time())):
            if verbose:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
        container.reload()
        print(f"{PROG}: the container ended by itself ({container.status}); its last lines:\n"
              + container.logs(tail=30).decode(errors="replace"), file=sys.stderr)
    except KeyboardInterrupt as why:
        print(f"\n{PROG}: {str(why) or 'Ctrl-C'}", file=sys.stderr)
        if container is None:  # ended while starting: up removed what it started
            return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not started:
        return 0
    # a second Ctrl-C must not leave the database half stopped: `down` runs to its end
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    return cmd_down(opts)


def cmd_status(opts: Options) -> int:
    container = existing(docker_client(), opts.name)
    if container is None:
        print(f"not running (no container {opts.name!r})")
        return 1
    health = container.attrs["State"].get("Health", {}).get("Status", "no health check")
    print(f"container {opts.name}: {container.status} ({health}), image {container.image.tags[:1]}")
    print(f"  contents  {image_contents(container.image)}")
    print(f"  work dir  {container.labels.get(f'{LABEL}.workdir', '?')}")
    for what, url in urls(container).items():
        print(f"  {what:<9} {url}")
    return 0 if container.status == "running" else 1


def cmd_url(opts: Options) -> int:
    links = urls(running_container(docker_client(), opts))
    print(links.get("jupyter", ""))
    return 0


def cmd_logs(opts: Options, follow: bool, service: str | None) -> int:
    container = existing(docker_client(), opts.name)
    if container is None:
        raise DesktopError(f"no container {opts.name!r}")
    if service is None:
        stream = container.logs(stream=follow, follow=follow)
        for chunk in ([stream] if isinstance(stream, bytes) else stream):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
        return 0
    workdir = Path(container.labels.get(f"{LABEL}.workdir", opts.workdir))
    log = workdir / "logs" / f"{service}-{opts.name}.log"
    if not log.is_file():
        names = services_with_logs(workdir / "logs", opts.name)
        raise DesktopError(f"no log for service {service!r}; services with logs: {', '.join(names) or 'none'}", 2)
    argv = ["tail", "-n", "100"] + (["-f"] if follow else []) + [str(log)]
    os.execvp(argv[0], argv)
    return 0  # not reached


def services_with_logs(log_dir: Path, name: str) -> list[str]:
    """The services whose log is SERVICE-NAME.log (NAME: the container's, its node name): the
    known suffix is cut off, since service and container names may both hold '-'."""
    suffix = f"-{name}.log"
    return sorted(p.name[:-len(suffix)] for p in log_dir.glob(f"*{suffix}") if len(p.name) > len(suffix))


def cmd_down(opts: Options) -> int:
    container = existing(docker_client(), opts.name)
    if container is None:
        print(f"not running (no container {opts.name!r})")
        return 0
    print(f"stopping {opts.name} (the database shuts down cleanly) ...", file=sys.stderr)
    container.stop(timeout=STOP_TIMEOUT)
    code = container.wait()["StatusCode"]
    container.remove()
    print(f"stopped {opts.name}" + ("" if code == 0 else f" (exit code {code}; see its logs above)"))
    return 0 if code == 0 else 1


def cmd_run(opts: Options, notebook: str, extra: list[str], given_workdir: bool) -> int:
    path = Path(notebook).expanduser().resolve()
    client = docker_client()
    container = existing(client, opts.name)
    if container is not None and container.status == "running":
        opts.workdir = Path(container.labels.get(f"{LABEL}.workdir", opts.workdir))
    elif not given_workdir:  # a fresh container: the notebook's own directory is the work dir
        opts.workdir = path.parent
    try:
        inside = Path(HOME) / path.relative_to(opts.workdir)
    except ValueError as err:
        raise DesktopError(f"{notebook} is not inside the work dir {opts.workdir}; put it there (the container "
                           "sees only that directory)", 2) from err
    if not path.is_file():
        raise DesktopError(f"{notebook}: no such file", 2)
    argv = ["--batch", str(inside), *extra]
    if container is not None and container.status == "running":
        result = client.api.exec_create(container.id, ["mspass-role", *argv], user=f"{os.getuid()}:{os.getgid()}")
        for chunk in client.api.exec_start(result["Id"], stream=True):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
        return client.api.exec_inspect(result["Id"])["ExitCode"]
    check_workdir(opts.workdir)
    find_image(client, opts.image)
    kwargs = container_kwargs(opts)
    kwargs["labels"] = {LABEL: "batch"}
    prepare_db_volume(client, opts)
    batch = client.containers.run(opts.image, argv, detach=True, **kwargs)
    try:
        for chunk in batch.logs(stream=True, follow=True):
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
        return batch.wait()["StatusCode"]
    finally:
        stop_and_remove(batch)


# ---------------------------------------------------------------------- entry point
def cmd_version(opts: Options) -> int:
    """This launcher's version and what the image it would start holds."""
    print(f"{PROG} {__version__}")
    try:
        print(f"image {opts.image}: {image_contents(find_image(docker_client(), opts.image))}")
    except DesktopError as err:
        print(f"image {opts.image}: unknown ({str(err).split('.')[0]})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Start, show and stop MsPASS on this computer (Docker).",
                                usage=f"{PROG} [-h] [-c FILE] [-v] [COMMAND ...]",
                                epilog=f"Settings may also come from {CONFIG_NAME} in the work dir or in "
                                       "~/.config/mspass/; options win.")
    p.add_argument("-c", "--config-file", dest="config_file", metavar="FILE",
                   help=f"settings file ({CONFIG_NAME} format, or MsPASS's MsPASSDesktopGUI.yaml) instead of "
                        "the work dir's and the user's")
    p.add_argument("-v", "--verbose", action="store_true", help="show the settings, and the services' output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND",
                           description="with none: start MsPASS for the current directory, open Jupyter, "
                                       "show its addresses, and stop it cleanly on Ctrl-C")

    def common(sp, workdir_arg: bool = False):
        if workdir_arg:
            sp.add_argument("workdir", nargs="?", help="work dir mounted as /home (default: current directory)")
        sp.add_argument("--name", help="container name (default: mspass)")
        sp.add_argument("--image", help="image (default: mspass:latest)")
        return sp

    common(sub.add_parser("version", help="this launcher's version and the MsPASS version of the image"))

    up = common(sub.add_parser("up", help="start the all-in-one container and print its URLs"), workdir_arg=True)
    up.add_argument("--scheduler", choices=SCHEDULERS, help="dask (default) or spark")
    up.add_argument("--port", type=int, help=f"Jupyter port on 127.0.0.1 (default {Options.port}; the next free one if taken)")
    up.add_argument("--dashboard-port", dest="dashboard_port", type=int,
                    help=f"dask dashboard / Spark UI port (default {Options.dashboard_port})")
    up.add_argument("--cpus", type=float, help="CPUs the container may use (workers are sized to it)")
    up.add_argument("--memory", help="memory the container may use, e.g. 8g (workers are sized to it)")
    up.add_argument("--db-volume", dest="db_volume", help="keep the database in this docker volume, not WORKDIR/db")
    up.add_argument("--no-browser", dest="browser", action="store_false", default=None,
                    help="do not open a browser")
    common(sub.add_parser("status", help="state, health and URLs"))
    common(sub.add_parser("url", help="print the Jupyter URL with its token"))
    logs = common(sub.add_parser("logs", help="the container's output, or one service's log"))
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("service", nargs="?", help="db, scheduler, worker, jupyter")
    common(sub.add_parser("down", help="stop the container; the database shuts down cleanly"))
    run = common(sub.add_parser("run", help="run a notebook or script in batch mode; its exit code is ours",
                                usage=f"{PROG} run [options] NOTEBOOK [papermill options or script args]"))
    run.add_argument("notebook", help="a .ipynb or .py file inside the work dir")
    run.add_argument("extra", nargs=argparse.REMAINDER, help="papermill options (-p NAME VALUE) or script args")
    run.add_argument("--scheduler", choices=SCHEDULERS)
    run.add_argument("--workdir", help="work dir for a fresh container (default: the notebook's directory)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:  # the usual spelling of the `version` command
        argv[0] = "version"
    args = parser().parse_args(argv)
    try:
        opts = resolve_options(args)
        if args.command is None:
            return cmd_session(opts, args.verbose)
        if args.command == "version":
            return cmd_version(opts)
        if args.command == "up":
            return cmd_up(opts)
        if args.command == "status":
            return cmd_status(opts)
        if args.command == "url":
            return cmd_url(opts)
        if args.command == "logs":
            return cmd_logs(opts, args.follow, args.service)
        if args.command == "down":
            return cmd_down(opts)
        return cmd_run(opts, args.notebook, args.extra, given_workdir=args.workdir is not None)
    except DesktopError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
