import pytest

from tests.support.containers import docker_client, ensure_image, tracked


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # keep each phase's report on the item so fixtures can show logs only on failure
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# Docker fixtures for the image (tier 3) and cluster (tier 4) tests. In CI a missing
# engine or image fails these tests; locally it skips them.
@pytest.fixture(scope="session")
def docker(request):
    return docker_client()


@pytest.fixture(scope="session")
def image(docker):
    return ensure_image(docker)


@pytest.fixture
def containers(docker, image, request):
    yield from tracked(docker, request, image.tags[0] if image.tags else image.id)
