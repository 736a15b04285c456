"""HTML/htmx views of evaluation runs: the runs list, the New Evaluation Run sheet, the run
page with its results table, downloads and actions, and the comparison of runs."""
