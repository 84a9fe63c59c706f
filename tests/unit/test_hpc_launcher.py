"""HPCClusterLauncher's configuration: every key of mspass-launcher's YAML (0.1.1 and its
unreleased main) is honoured (turned into mspass-hpc's settings and options) or warned about,
one line each; the file is found where mspass-launcher looks; the YAML reader agrees with
PyYAML on such files."""

from __future__ import annotations

import shlex
import textwrap

import pytest
import yaml

from mspass_roles import hpc
from mspass_roles.hpc import launcher as hpc_launcher
from mspass_roles.hpc.yamlfile import YamlError, load

JOB = {"SLURM_JOB_NODELIST": "c[1-3]", "SLURM_JOB_ID": "42", "PATH": "/usr/bin:/bin", "HOME": "/home/u"}

# every key mspass-launcher reads (0.1.1, then main's additions), with values of a course-like job
EVERY_KEY = """\
container: /shared/sif/mspass.sif   # the image
working_directory: /shared/run
log_directory: /shared/run/logs
database_directory: /shared/run/db
worker_directory: /shared/run/work
workers_per_node: 6
primary_node_workers: 2
cluster_subnet_name: cluster.example.edu
db_startup_delay: 10
worker_memory_limit: 3GB
HPC_cluster:
    primary_host: c2
    database_host: c1
    scheduler_host: c1
    worker_hosts: [c3]
    job_scheduler: slurm
    task_scheduler: dask
    container_run_command: apptainer run
    container_run_args: --home /shared/run -B /shared
    container_env_flag: --env
    worker_run_command: mpiexec
    remote_worker_run_command: mpiexec -n 1
    mpi_implementation: openmpi
    mpi_arg_list: "-ppn 1"
    hostlist_filename: hosts.txt
    setup_tunnel: false
    tunnel_setup_command: site_tunnel.sh
"""
WARNED = ["db_startup_delay", "HPC_cluster.container_env_flag", "HPC_cluster.worker_run_command",
          "HPC_cluster.remote_worker_run_command", "HPC_cluster.mpi_implementation", "HPC_cluster.mpi_arg_list",
          "HPC_cluster.hostlist_filename"]


@pytest.fixture
def job(monkeypatch, tmp_path):
    monkeypatch.setattr("os.environ", dict(JOB))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make(job, text: str, **kwargs) -> hpc.HPCClusterLauncher:
    (job / "HPCClusterLauncher.yaml").write_text(text)
    return hpc.HPCClusterLauncher(auto_launch=False, **kwargs)


def test_every_key_is_honoured_or_warned_about_once(job, capsys, monkeypatch):
    launcher = make(job, EVERY_KEY)
    err = capsys.readouterr().err
    warned = [line.split(" in ")[0].split("WARNING: ")[1] for line in err.splitlines() if "WARNING" in line]
    assert warned == WARNED, err
    env = launcher.env
    assert (env["MSPASS_CONTAINER"], env["MSPASS_WORK_DIR"], env["MSPASS_LOG_DIR"], env["MSPASS_DB_DIR"],
            env["MSPASS_WORKER_DIR"]) == ("/shared/sif/mspass.sif", "/shared/run", "/shared/run/logs",
                                          "/shared/run/db", "/shared/run/work")
    assert env["HOSTNAME_BASE"] == "cluster.example.edu" and env["MSPASS_CONTAINER_RUNTIME"] == "apptainer"
    assert env["MSPASS_WORKER_ARG"] == "--memory-limit 3GB"
    assert launcher.work_dir == job.__class__("/shared/run")
    # the layout, as mspass-hpc sees it: what --dry-run of the services part shows
    monkeypatch.setattr("os.environ", env)
    assert hpc.main(["run", "--part", "services", *launcher.args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "#   c1: db, scheduler\n" in out
    assert "#   c2: worker (--memory-limit 3GB --nworkers 2 --nthreads 1)\n" in out  # the primary node's workers
    assert "#   c3: worker (--memory-limit 3GB --nworkers 6 --nthreads 1)\n" in out
    assert "frontend" not in out  # run() and interactive_session() start it
    command = next(shlex.split(line.rstrip(" &")) for line in out.splitlines() if "mspass-worker" in line)
    assert command[command.index("apptainer"):command.index("apptainer") + 7] == [
        "apptainer", "run", "--no-eval", "--home", "/shared/run", "-B", "/shared"]


def test_the_course_file_with_defaults_warns_only_about_what_it_cannot_honour(job, capsys):
    course = textwrap.dedent("""\
        container: $HOME/ec/mspass.sif
        working_directory: ~/run
        workers_per_node: 50
        primary_node_workers: 40
        db_startup_delay: 10
        HPC_cluster:
            primary_host: auto
            database_host: auto
            scheduler_host: auto
            worker_hosts: auto
            job_scheduler: slurm
            task_scheduler: dask
            container_run_command: apptainer run
            container_env_flag: --env
            worker_run_command: mpiexec
            setup_tunnel: false
            tunnel_setup_command: some_site_script.sh
        """)
    launcher = make(job, course)
    assert launcher.env["MSPASS_CONTAINER"] == "/home/u/ec/mspass.sif" and launcher.env["MSPASS_WORK_DIR"] == "/home/u/run"
    assert launcher.args == ["--workers-per-node", "50", "--primary-workers", "40", "--scheduler", "dask",
                             "--threads-per-worker", "1", "--primary", "0"]
    assert capsys.readouterr().err.count("WARNING") == 3


@pytest.mark.parametrize("text,message", [
    ("HPC_cluster:\n    job_scheduler: pbs\n", "job_scheduler='pbs'; valid: slurm"),
    ("HPC_cluster:\n    primary_host: c9\n", "primary_host='c9' is not a node of this job; valid: auto, c1, c2, c3"),
    ("HPC_cluster:\n    worker_hosts: c1, c7\n", "worker_hosts='c7' is not a node of this job"),
])
def test_bad_values_are_errors_naming_the_key_and_the_valid_values(job, text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(job, text)


def test_status_checks_its_argument_and_says_0_before_launch(job, capsys):
    launcher = make(job, "workers_per_node: 2\n")
    with pytest.raises(ValueError, match="component='web'; valid: all, db, scheduler, primary_worker, remote_workers"):
        launcher.status("web")
    assert launcher.status() == 0 and "db: NOT running" in capsys.readouterr().out
    assert launcher.status("primary_worker") == 0  # none in this layout


def test_the_configuration_is_found_where_mspass_launcher_looks(job, monkeypatch):
    (job / "data" / "yaml").mkdir(parents=True)
    (job / "data" / "yaml" / "HPCClusterLauncher.yaml").write_text("workers_per_node: 3\n")
    assert hpc_launcher.find_configuration("HPCClusterLauncher.yaml") == job.joinpath("data/yaml/HPCClusterLauncher.yaml").relative_to(job)
    home = job / "home"
    (home / "data" / "yaml").mkdir(parents=True)
    (home / "data" / "yaml" / "other.yaml").write_text("")
    monkeypatch.setitem(__import__("os").environ, "MSPASS_HOME", str(home))
    assert hpc_launcher.find_configuration("other.yaml") == home / "data" / "yaml" / "other.yaml"
    # then the package's template, which says every key
    template = hpc_launcher.find_configuration("HPCClusterLauncher.yaml".replace("HPC", "HPC"))
    assert template.name == "HPCClusterLauncher.yaml"
    with pytest.raises(FileNotFoundError, match="no missing.yaml in .*copy .*HPCClusterLauncher.yaml"):
        hpc_launcher.find_configuration("missing.yaml")


def test_the_template_is_read_with_no_warning_and_outside_a_job_the_error_says_so(job, capsys, monkeypatch):
    template = (hpc_launcher.Path(hpc_launcher.__file__).parent / "HPCClusterLauncher.yaml").read_text()
    make(job, template)
    assert "WARNING" not in capsys.readouterr().err
    monkeypatch.setattr("os.environ", {"PATH": "/usr/bin"})
    with pytest.raises(hpc.core.HpcError, match="not inside a Slurm job"):
        make(job, template)


# ---------------------------------------------------------------------- the YAML reader
DOCUMENTS = [
    EVERY_KEY,
    (hpc_launcher.Path(hpc_launcher.__file__).parent / "HPCClusterLauncher.yaml").read_text(),
    "a: 1\nb: 2.5\nc: yes\nd: off\ne: ~\nf:\ng: 'x # y'\nh: \"q\"\ni: [1, two, 'three']\nj: []\n",
    "list:\n  - a\n  - 2\n  -\nnested:\n  deeper:\n    x: 1\n  y: ok # comment\n# end\n",
    "---\nkey: \"value with: colon\"\nurl: http://x:1/y\n...\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_reader_agrees_with_pyyaml(text):
    assert load(text) == (yaml.safe_load(text) or {})


@pytest.mark.parametrize("text,message", [
    ("a: 1\n\tb: 2\n", ":2: a tab in the indentation"),
    ("a: 1\n  b: 2\n", ":2: unexpected indentation"),
    ("a: {x: 1}\n", ":1: .*flow mappings"),
    ("a: 1\na: 2\n", ":2: 'a' given twice"),
    ("just text\n", ":1: expected `key: value`"),
    ("a: 'open\n", ":1: unterminated"),
    ("l:\n  - k: v\n", ":2: a mapping inside a list item"),
])
def test_what_the_reader_cannot_read_is_an_error_naming_the_line(text, message):
    with pytest.raises(YamlError, match=message):
        load(text, "f.yaml")
