from tests.runs_ui.conftest import (  # noqa: F401 - fixtures shared with the runs UI tests
    agent,
    dataset_run,
    finished_run,
    qa_version,
    trace_version,
)
