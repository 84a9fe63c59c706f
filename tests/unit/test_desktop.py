"""mspass-desktop's pure logic: settings files (its own and MsPASS's), the container's environment."""

from __future__ import annotations

import argparse

import pytest

from mspass_roles import desktop
from mspass_roles.desktop import DesktopError, Options

#: MsPASS's own launcher configuration (mspass_launcher's MsPASSDesktopGUI.yaml), its keys and form
MSPASS_GUI_YAML = """\
# Minimum horizontal size of main window in pixels
minimum_window_size_x: 1000
minimum_window_size_y: 1000
grid_padding:  5
docker_compose_yaml_file: DesktopCluster.yaml
engine_startup_delay_time:  5
status_monitor_time_interval:  10
web_browser:  firefox
container_run_directory:  /home
"""


def resolve(tmp_path, **given) -> Options:
    return desktop.resolve_options(argparse.Namespace(workdir=str(tmp_path), **given))


def test_c_reads_mspass_launchers_yaml_and_says_what_does_not_apply(tmp_path, capsys):
    config = tmp_path / "MsPASSDesktopGUI.yaml"
    config.write_text(MSPASS_GUI_YAML)
    opts = resolve(tmp_path, config_file=str(config))
    assert opts.web_browser == "firefox" and opts.name == "mspass"
    said = capsys.readouterr().err
    assert "minimum_window_size_x (no window)" in said and "docker_compose_yaml_file" in said


def test_c_with_a_toml_file_replaces_the_work_dirs(tmp_path):
    (tmp_path / desktop.CONFIG_NAME).write_text('name = "from-workdir"\n')
    given = tmp_path / "mine.toml"
    given.write_text('name = "from-c"\nport = 9999\n')
    assert resolve(tmp_path, config_file=str(given)).name == "from-c"
    assert resolve(tmp_path).name == "from-workdir"
    assert resolve(tmp_path, config_file=str(given), name="from-option").name == "from-option"


@pytest.mark.parametrize("text, expected", [
    ("container_run_directory: /work\n", "container_run_directory='/work'; valid: /home"),
    ("web_browsr: firefox\n", "unknown setting(s) web_browsr"),
])
def test_c_refuses_what_it_cannot_honour(tmp_path, text, expected):
    config = tmp_path / "gui.yaml"
    config.write_text(text)
    with pytest.raises(DesktopError, match=expected.replace("(", r"\(").replace(")", r"\)")) as err:
        resolve(tmp_path, config_file=str(config))
    assert err.value.code == 2


def test_c_names_a_missing_file(tmp_path):
    with pytest.raises(DesktopError, match="no such file") as err:
        resolve(tmp_path, config_file=str(tmp_path / "missing.yaml"))
    assert err.value.code == 2


def test_the_dashboard_link_is_where_the_dashboard_is_published(tmp_path):
    opts = Options(workdir=tmp_path, dashboard_port=18787)
    ports = {"8888/tcp": ("127.0.0.1", 18888), "8787/tcp": ("127.0.0.1", 18790)}  # 18787 was taken
    env = desktop.container_environment(opts, ports)
    assert env["DASK_DISTRIBUTED__DASHBOARD__LINK"] == "http://127.0.0.1:18790/status"
    spark = Options(workdir=tmp_path, scheduler="spark")
    assert "DASK_DISTRIBUTED__DASHBOARD__LINK" not in desktop.container_environment(spark, ports)


def test_bare_mspass_desktop_parses_as_a_session_with_c_and_v():
    args = desktop.parser().parse_args(["-c", "gui.yaml", "-v"])
    assert args.command is None and args.config_file == "gui.yaml" and args.verbose
    assert desktop.parser().parse_args(["up", "--no-browser"]).command == "up"


def wrapped(cause: OSError):
    """A DockerException as docker.from_env().ping() raises it: the socket's error in its
    text, the requests error it came from as its context."""
    from docker.errors import DockerException

    try:
        try:
            raise ConnectionError("Connection aborted.", cause)
        except ConnectionError:
            raise DockerException(f"Error while fetching server API version: ('Connection aborted.', {cause!r})")
    except DockerException as err:
        return err


def test_docker_unreachable_says_the_real_cause(monkeypatch):
    pytest.importorskip("docker")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("USER", "alice")
    denied = desktop.docker_unreachable(wrapped(PermissionError(13, "Permission denied")))
    assert denied == ("you (alice) may not use Docker's socket /var/run/docker.sock: add yourself to the docker "
                      "group (sudo usermod -aG docker $USER, then log in again)")
    from docker.errors import DockerException  # the text alone, no chained error, says it too

    assert desktop.docker_unreachable(DockerException("... PermissionError(13, 'Permission denied') ...")) == denied
    for cause in (FileNotFoundError(2, "No such file or directory"), ConnectionRefusedError(111, "Connection refused")):
        said = desktop.docker_unreachable(wrapped(cause))
        assert said.startswith("Docker is not running or not reachable at /var/run/docker.sock") and "Start Docker" in said
        assert "docker group" not in said
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")  # rootless Docker's
    assert "socket /run/user/1000/docker.sock:" in desktop.docker_unreachable(wrapped(PermissionError(13, "x")))


def test_the_services_offered_for_logs_are_the_names_logs_accepts(tmp_path):
    """Log files are SERVICE-NODE.log, the node being the container's name: names with '-'
    on either side are cut at the known suffix."""
    for name in ("db-nb-desk.log", "jupyter-nb-desk.log", "mongo-copy-nb-desk.log", "db-nb-desk.log.1",
                 "db-other.log", "worker-desk.log"):
        (tmp_path / name).write_text("")
    offered = desktop.services_with_logs(tmp_path, "nb-desk")
    assert offered == ["db", "jupyter", "mongo-copy"]
    assert all((tmp_path / f"{service}-nb-desk.log").is_file() for service in offered)  # what cmd_logs opens
