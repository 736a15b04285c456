"""``evalsite``: run an evaluation from CI and gate the build on it.

Exit codes: 0 the gate passed; 1 the gate failed; 2 the run failed, was canceled or could
not be started (or the server could not be reached); 3 usage error (bad arguments or config).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evalsite_client import __version__, ci, reports
from evalsite_client.api import ApiError, Client
from evalsite_client.config import ConfigError, Resolver, load, pick
from evalsite_client.gate import (
    COMPLETED,
    EXIT_GATE_FAILED,
    EXIT_PASS,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
    Check,
    RunVerdict,
    UsageError,
    compared_runs,
    describe_change,
    exit_code,
    metric_name,
    metric_stats,
    regression_checks,
    star_check,
)
from evalsite_client.watch import RunTimeout, follow

EPILOG = (
    "Exit codes: 0 the gate passed, 1 the gate failed, 2 the run failed or could not be "
    "started (or the server is unreachable), 3 usage error. The API key is read from "
    "EVALSITE_API_KEY; the server from --server or EVALSITE_SERVER."
)


class Parser(argparse.ArgumentParser):
    """argparse, exiting 3 (usage error) instead of 2, which means 'run failed' here."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"evalsite: error: {message}\n")


def _consoles() -> tuple[Console, Console]:
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    # A CI log is not a terminal: rich would assume 80 columns and wrap the tables.
    if not out.is_terminal:
        out = Console(highlight=False, width=max(out.width, 140))
    if not err.is_terminal:
        err = Console(stderr=True, highlight=False, width=max(err.width, 140))
    return out, err


def _fail(console: Console, message: str, code: int) -> int:
    console.print(f"evalsite: error: {message}", markup=False, highlight=False, soft_wrap=True)
    return code


def _client(args) -> Client:
    server = args.server or os.environ.get("EVALSITE_SERVER")
    if not server:
        raise UsageError("give --server URL (or set EVALSITE_SERVER)")
    key = os.environ.get("EVALSITE_API_KEY", "").strip()
    if not key:
        raise UsageError("set EVALSITE_API_KEY to an API key of the server")
    return Client(server, key, timeout=args.http_timeout)


def run_url(server: str, run: dict) -> str:
    return f"{server.rstrip('/')}/projects/{run.get('project_id')}/evaluations/{run.get('id')}/"


# --- tables ---------------------------------------------------------------------------------


def _num(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metrics_table(run: dict, metrics: list[dict]) -> Table:
    table = Table(title=escape(f"{run.get('name')}  ({run.get('status')})"), title_justify="left")
    for column in ("metric", "agent", "n", "errors", "mean", "median", "p10", "p90"):
        table.add_column(column, justify="left" if column in ("metric", "agent") else "right")
    table.add_column("threshold", justify="right")
    table.add_column("pass rate", justify="right")
    for m in metrics:
        name = m.get("metric_name") or ""
        if m.get("is_star"):
            name += " ★"
        table.add_row(
            escape(name),
            escape(m.get("workflow_name") or "dataset"),
            _num(m.get("count")),
            _num(m.get("errors")),
            _num(m.get("mean")),
            _num(m.get("median")),
            _num(m.get("p10")),
            _num(m.get("p90")),
            _num(m.get("threshold")),
            "—" if m.get("pass_rate") is None else f"{100 * m['pass_rate']:.1f}%",
        )
    return table


def comparison_table(comparison: dict) -> Table:
    base, other = compared_runs(comparison)
    table = Table(
        title=escape(f"{other.get('name')} vs baseline {base.get('name')} (rows paired by item)"),
        title_justify="left",
    )
    for column in ("metric", "baseline", "this run", "Δ", "95% CI", "p", "n", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for m in comparison.get("metrics") or []:
        s = metric_stats(m)
        ci_text = (
            f"[{s['ci_low']:+.3g}, {s['ci_high']:+.3g}]" if s.get("ci_low") is not None else "—"
        )
        table.add_row(
            escape(metric_name(m)),
            _num(s.get("mean_baseline")),
            _num(s.get("mean_other")),
            "—" if s.get("delta") is None else f"{s['delta']:+.4g}",
            ci_text,
            _num(s.get("p_value")),
            _num(s.get("n")),
            escape(m.get("verdict_label") or m.get("verdict") or ""),
        )
    return table


def checks_table(verdict: RunVerdict) -> Table:
    table = Table(title="gate", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    if not verdict.completed:
        detail = verdict.run.get("error_description") or ""
        table.add_row("run finished", f"[red]{verdict.run.get('status')}[/]", escape(detail))
    for check in verdict.checks:
        result = "[green]pass[/]" if check.passed else "[red bold]FAIL[/]"
        table.add_row(escape(check.name), result, escape(check.message))
    return table


# --- run ------------------------------------------------------------------------------------


def _start_v1(client: Client, args, env) -> list[str]:
    raw = load(args.config)
    if args.project:
        raw["project_id"] = args.project
    body = Resolver(client).resolve(raw)
    if args.name:
        body["name"] = args.name
    if not body.get("name"):
        sha = ci.commit(env)
        body["name"] = f"ci {sha[:10]}" if sha else "evalsite run"
    key = ci.idempotency_key(
        env, explicit=args.idempotency_key, disabled=args.no_idempotency_key, what=body
    )
    run = client.post("/v1/evaluations", body, idempotency_key=key)
    return [str(run["id"])]


def _start_gradient(client: Client, args, env) -> list[str]:
    resolver = Resolver(client)
    resolver.project_id = resolver.project(args.project, field="--project")
    cases = client.get("/v2/gen-ai/evaluation_test_cases").get("evaluation_test_cases") or []
    for case in cases:
        case["id"] = case.get("test_case_uuid")
    case = pick(cases, args.test_case, field="--test-case", kind="test case")
    agents = [resolver.workflow_id(name, field="--agent") for name in args.agent]
    body = {"test_case_uuid": case["id"], "agent_uuids": agents}
    if args.name:
        body["run_name"] = args.name
    key = ci.idempotency_key(
        env, explicit=args.idempotency_key, disabled=args.no_idempotency_key, what=body
    )
    created = client.post("/v2/gen-ai/evaluation_runs", body, idempotency_key=key)
    return [str(u) for u in created.get("evaluation_run_uuids") or []]


def _workflow_ids(run: dict) -> set[str]:
    return {
        str((entry.get("workflow") or {}).get("id"))
        for entry in run.get("config") or []
        if entry.get("workflow")
    }


def latest_passing(client: Client, run: dict) -> dict | None:
    """The newest passing run before ``run`` on its dataset version, with the same agents
    (and the same test case, when it has one)."""
    runs = client.list_all(
        "/v1/evaluations", project_id=run["project_id"], dataset_id=run.get("dataset_id")
    )
    agents = _workflow_ids(run)
    candidates = [
        other
        for other in runs
        if str(other.get("id")) != str(run["id"])
        and other.get("pass_status") is True
        and other.get("status") in COMPLETED
        and other.get("dataset_version_id") == run.get("dataset_version_id")
        and other.get("test_case_id") == run.get("test_case_id")
        and _workflow_ids(other) == agents
        and str(other.get("queued_at")) < str(run.get("queued_at"))
    ]
    return max(candidates, key=lambda other: str(other.get("queued_at")), default=None)


def _split_metrics(values: list[str] | None) -> list[str]:
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def judge(client: Client, run: dict, args) -> RunVerdict:
    verdict = RunVerdict(run=run, metrics=client.run_metrics(run["id"]))
    if not verdict.completed:
        return verdict
    check = star_check(verdict)
    if check is not None:
        verdict.checks.append(check)
    failed = int((run.get("progress") or {}).get("failed") or 0)
    if args.max_failed_rows is not None:
        verdict.checks.append(
            Check(
                "failed rows",
                failed <= args.max_failed_rows,
                f"{failed} row(s) failed (at most {args.max_failed_rows} allowed)",
            )
        )
    elif failed:
        verdict.notes.append(
            f"{failed} row(s) failed; they are errors in the JUnit report "
            "(--max-failed-rows N fails the gate on them)."
        )
    fail_on = _split_metrics(args.fail_on_regression)
    if args.baseline:
        try:
            baseline = (
                latest_passing(client, run)
                if args.baseline == "latest-passing"
                else client.run(args.baseline)
            )
        except ApiError as exc:
            if exc.status in (400, 404):
                raise UsageError(f"--baseline {args.baseline}: {exc.message}") from exc
            raise
        if baseline is None:
            verdict.notes.append(
                "No earlier passing run with the same agents on this dataset version: "
                "nothing to compare with yet."
            )
            return verdict
        verdict.baseline = baseline
        try:
            verdict.comparison = client.compare(run["id"], baseline["id"])
        except ApiError as exc:
            if exc.status in (400, 404):
                raise UsageError(f"--baseline: {exc.message}") from exc
            raise
        if not fail_on and verdict.star is not None:
            fail_on = ["star"]
        verdict.checks += regression_checks(
            verdict.comparison, fail_on=fail_on, min_effect=args.min_effect
        )
    return verdict


def cmd_run(args, out: Console, err: Console) -> int:
    if args.config and args.test_case:
        raise UsageError("give either --config or --test-case, not both")
    if not args.config and not args.test_case:
        raise UsageError("give --config FILE (or --test-case NAME --agent NAME)")
    if args.test_case and not args.agent:
        raise UsageError("--test-case needs at least one --agent NAME")
    if args.fail_on_regression and not args.baseline:
        raise UsageError("--fail-on-regression needs --baseline RUN|latest-passing")
    if args.min_effect < 0:
        raise UsageError("--min-effect must be 0 or more")
    if args.max_failed_rows is not None and args.max_failed_rows < 0:
        raise UsageError("--max-failed-rows must be 0 or more")
    env = os.environ
    with _client(args) as client:
        try:
            run_ids = (
                _start_v1(client, args, env) if args.config else _start_gradient(client, args, env)
            )
        except ApiError as exc:
            if exc.status == 400:
                fields = "; ".join(
                    f"{name}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                    for name, msgs in exc.errors.items()
                )
                detail = fields if fields and fields not in exc.message else exc.message
                return _fail(err, f"the server refused the config: {detail}", EXIT_USAGE)
            return _fail(err, f"could not start the run: {exc}", EXIT_RUN_FAILED)
        for run_id in run_ids:
            url = run_url(client.server, {"id": run_id, **client.run(run_id)})
            print(f"run {run_id}  {url}", file=sys.stderr, flush=True)
        try:
            runs = follow(
                client, run_ids, console=err, interval=args.poll_interval, timeout=args.timeout
            )
        except RunTimeout as exc:
            return _fail(err, str(exc), EXIT_RUN_FAILED)
        items = []
        for run in runs:
            verdict = judge(client, run, args)
            wanted = bool(args.junit or args.markdown or args.json)
            if wanted and run.get("status") != "canceled":
                report = reports.collect(
                    client.result_rows(run["id"]), verdict, junit=bool(args.junit)
                )
            else:
                report = reports.empty(verdict)
            items.append((verdict, report))
            out.print(metrics_table(run, verdict.metrics))
            if verdict.comparison:
                out.print(comparison_table(verdict.comparison))
            for note in verdict.notes:
                out.print(f"note: {note}", markup=False)
            out.print(checks_table(verdict))
        code = exit_code([v for v, _ in items])
        if args.junit:
            reports.write_junit(args.junit, items)
        if args.markdown:
            with open(args.markdown, "a", encoding="utf-8") as handle:
                handle.write(reports.markdown(items, server=client.server) + "\n")
        if args.json:
            reports.write_json(args.json, reports.verdict_json(items, server=client.server))
        for _, report in items:
            report.close()
        summary = {
            EXIT_PASS: "[green bold]gate passed[/]",
            EXIT_GATE_FAILED: "[red bold]gate failed[/]",
            EXIT_RUN_FAILED: "[red bold]run failed[/]",
        }[code]
        out.print(f"{summary} (exit {code})")
        return code


# --- compare, status, download ----------------------------------------------------------------


def cmd_compare(args, out: Console, err: Console) -> int:
    with _client(args) as client:
        comparison = client.compare(args.candidate, args.baseline)
        if args.json:
            out.print_json(data=comparison)
        else:
            out.print(comparison_table(comparison))
        fail_on = _split_metrics(args.fail_on_regression)
        if not fail_on:
            return EXIT_PASS
        checks = regression_checks(comparison, fail_on=fail_on, min_effect=args.min_effect)
        for check in checks:
            mark = "pass" if check.passed else "FAIL"
            out.print(f"{mark}: {check.name}: {check.message}", markup=False)
        return EXIT_PASS if all(c.passed for c in checks) else EXIT_GATE_FAILED


def cmd_status(args, out: Console, err: Console) -> int:
    with _client(args) as client:
        run = client.run(args.run)
        if args.json:
            out.print_json(data=run)
            return EXIT_PASS
        progress = run.get("progress") or {}
        out.print(
            f"{run.get('name')}  {run.get('id')}\n"
            f"status {run.get('status')} ({run.get('phase')}), "
            f"{progress.get('done', 0)}/{progress.get('total', 0)} rows done, "
            f"{progress.get('failed', 0)} failed, pass_status {run.get('pass_status')}\n"
            f"{run_url(client.server, run)}",
            markup=False,
        )
        if run.get("error_description"):
            out.print(f"error: {run['error_description']}", markup=False)
        out.print(metrics_table(run, client.run_metrics(run["id"])))
        return EXIT_PASS


def cmd_download(args, out: Console, err: Console) -> int:
    with _client(args) as client:
        path = f"/v1/evaluations/{args.run}/results/download"
        target = sys.stdout.buffer if args.output in (None, "-") else open(args.output, "wb")  # noqa: SIM115
        try:
            for chunk in client.stream(path, format=args.format):
                target.write(chunk)
        finally:
            if target is not sys.stdout.buffer:
                target.close()
            else:
                target.flush()
        if args.output not in (None, "-"):
            err.print(f"wrote {args.output}", markup=False)
        return EXIT_PASS


# --- the parser -----------------------------------------------------------------------------


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("--server", help="the evalsite server, e.g. https://evals.example.com")
    common.add_argument(
        "--http-timeout", type=float, default=60.0, help="seconds per HTTP request (60)"
    )

    parser = Parser(
        prog="evalsite",
        description="Run evalsite evaluations from CI, gate the build, write reports.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"evalsite-client {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    run = commands.add_parser(
        "run",
        parents=[common],
        help="start a run, follow it, gate the build on it",
        description="Start an evaluation run, show its progress, print a summary per metric "
        "and exit 0 only when the gate passes: the run finished, its star metric meets its "
        "threshold and (with --baseline) no metric named by --fail-on-regression is "
        "significantly worse than the baseline by more than --min-effect.",
        epilog=EPILOG,
    )
    source = run.add_argument_group("what to run")
    source.add_argument(
        "--config",
        metavar="FILE",
        help="the create body of POST /v1/evaluations (JSON or YAML); names may stand for ids",
    )
    source.add_argument("--test-case", metavar="NAME", help="an evaluation test case (Gradient)")
    source.add_argument(
        "--agent",
        metavar="NAME",
        action="append",
        help="an agent (workflow) to run the test case against; repeat for several",
    )
    source.add_argument(
        "--project", metavar="NAME|ID", help="the project (when the key has several)"
    )
    source.add_argument("--name", help="the run's name (default: the config's, or 'ci <commit>')")
    keys = run.add_argument_group("retries")
    keys.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="start at most one run per KEY (default: derived from the CI job, so a retried "
        "job follows the run it started instead of starting another)",
    )
    keys.add_argument("--no-idempotency-key", action="store_true", help="always start a new run")
    gate = run.add_argument_group("the gate")
    gate.add_argument(
        "--baseline",
        metavar="RUN|latest-passing",
        help="compare with this run, or with the newest earlier passing run with the same "
        "agents on the same dataset version",
    )
    gate.add_argument(
        "--fail-on-regression",
        metavar="METRIC[,METRIC]",
        action="append",
        help="fail when one of these metrics is significantly worse than the baseline "
        "(default with --baseline: the star metric); 'star' names the star metric",
    )
    gate.add_argument(
        "--max-failed-rows",
        type=int,
        metavar="N",
        help="fail when more than N rows failed (agent call or task error); default: not "
        "checked, the failed rows are reported",
    )
    gate.add_argument(
        "--min-effect",
        type=float,
        default=0.0,
        metavar="X",
        help="ignore significant regressions whose mean change is at most X (metric units)",
    )
    out = run.add_argument_group("reports")
    out.add_argument("--junit", metavar="FILE", help="JUnit XML: one test case per row and metric")
    out.add_argument("--markdown", metavar="FILE", help="a Markdown summary (appended to FILE)")
    out.add_argument("--json", metavar="FILE", help="the verdict as JSON")
    wait = run.add_argument_group("waiting")
    wait.add_argument("--poll-interval", type=float, default=1.0, help="seconds between polls (1)")
    wait.add_argument(
        "--timeout", type=float, default=0, help="give up (exit 2) after this many seconds"
    )
    run.set_defaults(handler=cmd_run)

    compare = commands.add_parser(
        "compare",
        parents=[common],
        help="compare two runs (paired by dataset item)",
        description="Compare CANDIDATE with BASELINE: per metric, the mean per-row change, "
        "its confidence interval, p-value and verdict.",
        epilog=EPILOG,
    )
    compare.add_argument("baseline", metavar="BASELINE", help="the baseline run id")
    compare.add_argument("candidate", metavar="CANDIDATE", help="the run being judged")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument(
        "--fail-on-regression",
        metavar="METRIC[,METRIC]",
        action="append",
        help="exit 1 on a significant regression of these metrics",
    )
    compare.add_argument("--min-effect", type=float, default=0.0, metavar="X")
    compare.set_defaults(handler=cmd_compare)

    status = commands.add_parser(
        "status", parents=[common], help="show a run's status and metrics", epilog=EPILOG
    )
    status.add_argument("run", metavar="RUN", help="the run id")
    status.add_argument("--json", action="store_true", help="print the run as JSON")
    status.set_defaults(handler=cmd_status)

    download = commands.add_parser(
        "download", parents=[common], help="download a run's results", epilog=EPILOG
    )
    download.add_argument("run", metavar="RUN", help="the run id")
    download.add_argument("--format", choices=["jsonl", "json", "csv"], default="jsonl")
    download.add_argument("-o", "--output", metavar="FILE", help="write here (default stdout)")
    download.set_defaults(handler=cmd_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = _consoles()
    try:
        return args.handler(args, out, err)
    except UsageError as exc:
        return _fail(err, str(exc), EXIT_USAGE)
    except ConfigError as exc:
        config = getattr(args, "config", None)
        return _fail(err, f"{config}: {exc}" if config else str(exc), EXIT_USAGE)
    except ApiError as exc:
        return _fail(err, str(exc), EXIT_RUN_FAILED)
    except KeyboardInterrupt:
        return _fail(err, "interrupted", EXIT_RUN_FAILED)


__all__ = ["main", "describe_change"]
