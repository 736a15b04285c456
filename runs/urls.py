from django.urls import path

from runs.views import prices, run_page, runs_list, sheet, test_cases

app_name = "runs"
urlpatterns = [
    path("", runs_list.run_list, name="list"),
    path("rows/", runs_list.run_list_rows, name="list_rows"),
    path("new/", sheet.run_new, name="new"),
    path("compare/", runs_list.run_compare, name="compare"),
    path("test-cases/", test_cases.test_case_list, name="test_cases"),
    path("test-cases/<uuid:test_case_id>/", test_cases.test_case_detail, name="test_case"),
    path("test-cases/<uuid:test_case_id>/run/", test_cases.test_case_run, name="test_case_run"),
    path("prices/", prices.prices_page, name="prices"),
    path("<uuid:run_id>/", run_page.run_detail, name="detail"),
    path("<uuid:run_id>/status/", run_page.run_status, name="status"),
    path("<uuid:run_id>/results/", run_page.run_results, name="results"),
    path("<uuid:run_id>/rows/<int:position>/", run_page.run_row, name="row"),
    path("<uuid:run_id>/download/", run_page.run_download, name="download"),
    path("<uuid:run_id>/rerun/", run_page.run_rerun, name="rerun"),
    path("<uuid:run_id>/cancel/", run_page.run_cancel, name="cancel"),
    path("<uuid:run_id>/delete/", run_page.run_delete, name="delete"),
]
