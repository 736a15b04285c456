from tests.runs.conftest import make_agent, make_dataset  # noqa: F401 - fixtures re-used here
