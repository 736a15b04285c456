from tests.workflows.conftest import make_workflow  # noqa: F401  (shared fixture)
