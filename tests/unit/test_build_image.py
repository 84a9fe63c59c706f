"""scripts/build/build-image.sh: what it refuses before Docker builds anything. Run on a copy
of the build scripts with a `docker` that only records its calls, and no network (a proxy
that refuses), as on a machine that cannot reach GitHub."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import REPO

ARCHIVE = "libmseed-3.0.8.tar.gz"  # what mspasspy 2.4.3's build downloads (its patch 04)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The build script, mspasspy's patches, an empty source cache and the Dockerfile."""
    copy = tmp_path / "repo"
    build = copy / "scripts" / "build"
    (build / "source-cache").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "build" / "build-image.sh", build)
    shutil.copytree(REPO / "scripts" / "build" / "mspasspy" / "patches", build / "mspasspy" / "patches")
    for name in ("Dockerfile", "pyproject.toml"):
        shutil.copy(REPO / name, copy)
    return copy


def build(checkout: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = tmp_path / "docker-calls"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    docker.chmod(0o755)
    proxy = "http://127.0.0.1:9"  # nothing listens there: no download can succeed
    run = subprocess.run(["bash", str(checkout / "scripts" / "build" / "build-image.sh")], capture_output=True,
                         text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "DOCKER": str(docker), "EXTRA_CA_CERT": "",
                              "https_proxy": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "HTTP_PROXY": proxy,
                              "PIP_INDEX_URL": "-", **env})
    return run, calls.read_text().splitlines() if calls.exists() else []


def test_without_the_source_cache_and_no_way_to_download_it_says_so_before_building(checkout, tmp_path):
    """It was 7 minutes of compiling, then only `cmake --build ... exit status 2`."""
    run, calls = build(checkout, tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "downloads https://github.com/iris-edu/libmseed/" in run.stderr and ARCHIVE in run.stderr
    assert "SOURCE_CACHE=DIR" in run.stderr and "MSPASS_VERSION=none" in run.stderr
    assert calls == ["info"]  # nothing built, no base image made


def test_with_the_archive_in_the_source_cache_it_goes_on_to_build(checkout, tmp_path):
    (checkout / "scripts" / "build" / "source-cache" / ARCHIVE).write_bytes(b"checked in the build stage")
    run, calls = build(checkout, tmp_path, MSPASS_DB_ENGINE="ferretdb")
    assert run.returncode == 0, run.stdout + run.stderr
    assert any(call.startswith("build ") for call in calls), calls


def test_the_slim_image_needs_no_download(checkout, tmp_path):
    run, calls = build(checkout, tmp_path, MSPASS_VERSION="none", MSPASS_DB_ENGINE="ferretdb")
    assert run.returncode == 0, run.stdout + run.stderr
    assert any(call.startswith("build ") and "MSPASS_VERSION=none" in call for call in calls), calls


def test_a_version_without_patches_is_refused_with_the_valid_ones(checkout, tmp_path):
    run, calls = build(checkout, tmp_path, MSPASS_VERSION="9.9.9")
    assert run.returncode == 2 and "MSPASS_VERSION=9.9.9" in run.stderr and "2.4.3" in run.stderr, run.stderr
    assert calls == ["info"]
