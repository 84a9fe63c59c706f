import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # keep each phase's report on the item so fixtures can show logs only on failure
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
