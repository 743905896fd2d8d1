"""The full fault-injection run (issue 13): kill shopmig's migration at random moments of every
step on every backend, and count what shopmig makes of it.

For each backend (a demo shop of ``--rows`` seeded orders) and each step (0002..0005), up and
down, this runs the step as ``shopmig upgrade +1`` / ``downgrade -1`` in a subprocess and:

- ``kill -9``s the process at a uniformly random moment of the time it migrates (holds
  shopmig's migration lock; SQLite: has the file open), ``--kills`` times per step, plus
  ``--ddl-kills`` times within 20 ms of the step's statements starting (the DDL on a server,
  the write lock on SQLite; steps whose statements are too short to see fall back to the
  random moment and say so);
- on the servers, ends the migrating *server session* from a second connection
  (``pg_terminate_backend``, ``KILL``) the same ways (``--session-kills``,
  ``--session-ddl-kills``);
- starts two ``shopmig upgrade head`` at once (``--concurrent`` times).

After every fault ``tests/fault_harness.py`` checks: ``shopmig.diagnose`` names the state
(right after the fault and once the dead client's server session is gone); the killed run
printed no traceback, and a run whose session was killed ended in one ``shopmig: error:`` line;
a rerun (``shopmig upgrade head``, or ``downgrade`` to the revision below the step) exits 0
with no error and reaches its goal with schema and version table agreeing; no invalid index is
left (PostgreSQL's catalog); row count and sum of amounts equal the seeded data's, every row is
``'pending'``, and ``shopmig.verify`` finds no difference against an untouched copy of the
shop (checksum engine on the servers, one SQLite join on SQLite).

Usage (from the repository root; ``make faults`` runs the defaults)::

    python benchmarks/faults.py --backends sqlite,postgresql,mariadb \\
        --out benchmarks/results/faults.json

Servers: ``SHOPMIG_BENCH_POSTGRES_URL`` / ``SHOPMIG_BENCH_MARIADB_URL`` (else
``SHOPMIG_TEST_*``, else the local defaults); scratch databases are ``shopmig_faults_*`` and
are dropped at the end. Exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Scratch, log, machine_info, write_atomic

import shopmig
from shopmig.db import parse_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fault_harness import REVS, STEPS, FaultLab, Trial  # noqa: E402

DEFAULT_OUT = HERE / "results" / "faults.json"
BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_ENV = {
    "postgresql": ("SHOPMIG_BENCH_POSTGRES_URL", "SHOPMIG_TEST_POSTGRES_URL",
                   "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": ("SHOPMIG_BENCH_MARIADB_URL", "SHOPMIG_TEST_MARIADB_URL",
                "mysql+pymysql://root@127.0.0.1:3306/test"),
}
PREFIX = "shopmig_faults"
CATEGORIES = ("untouched", "done", "half-applied", "invalid index left", "unnamed")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--rows", type=int, default=200_000, help="orders in each demo shop")
    p.add_argument("--kills", type=int, default=10,
                   help="kill -9 per step going up, at a random moment (default %(default)s)")
    p.add_argument("--ddl-kills", type=int, default=4,
                   help="kill -9 per step going up, as its statements start")
    p.add_argument("--down-kills", type=int, default=5,
                   help="kill -9 per step going down, at a random moment")
    p.add_argument("--session-kills", type=int, default=5,
                   help="server sessions ended per step going up, at a random moment")
    p.add_argument("--session-ddl-kills", type=int, default=3,
                   help="server sessions ended per step going up, as its statements start")
    p.add_argument("--down-session-kills", type=int, default=2,
                   help="server sessions ended per step going down, at a random moment")
    p.add_argument("--concurrent", type=int, default=5, help="pairs of upgrades at once")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--cold", action="store_true",
                   help="start every killed run and every rerun as a fresh `python -m shopmig` "
                   "(default: the killed run is a process that imported shopmig ahead and then "
                   "runs the same main(); the rerun calls main() in this process)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--report-only", action="store_true",
                   help="only write the .md again from the JSON at --out (no faults)")
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        p.error(f"unknown backend(s) {sorted(unknown)}; choose from {BACKENDS}")
    return args


def server_url(backend: str) -> Any:
    for var in SERVER_ENV[backend][:2]:
        if os.environ.get(var):
            return parse_url(os.environ[var])
    return parse_url(SERVER_ENV[backend][2])


def plan(args: argparse.Namespace, server: bool) -> list[tuple[str, str, str, int]]:
    """(direction, mode, timing, count) per step."""
    rows = [("up", "sigkill", "window", args.kills), ("up", "sigkill", "ddl", args.ddl_kills),
            ("down", "sigkill", "window", args.down_kills)]
    if server:
        rows += [("up", "session", "window", args.session_kills),
                 ("up", "session", "ddl", args.session_ddl_kills),
                 ("down", "session", "window", args.down_session_kills)]
    return [r for r in rows if r[3] > 0]


def slim(trial: Trial) -> dict[str, Any]:
    """What the results file keeps of a trial (first lines of the outputs)."""
    def first(text: str) -> str:
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[0][:400] if lines else ""

    return {
        "backend": trial.backend, "step": trial.step, "direction": trial.direction,
        "mode": trial.mode, "timing": trial.timing, "delay_s": trial.delay_s,
        "window_s": trial.window_s, "sessions_killed": trial.sessions_killed,
        "killed_exit": trial.killed.get("code"), "killed_err": first(trial.killed.get("err", "")),
        "recorded_after": trial.state.get("recorded"), "schema_after": trial.state.get("actual"),
        "invalid_after": trial.state.get("invalid"), "category": trial.category,
        "named": trial.state.get("sentence"), "repaired": trial.repaired,
        "rerun_exit": trial.rerun.get("code"), "rerun_out": trial.rerun.get("out", "").strip(),
        "rerun_err": first(trial.rerun.get("err", "")), "reached": trial.reached,
        "invalid_left": trial.invalid_left, "data_ok": trial.data_ok,
        "data": trial.data_detail, "problems": trial.problems, "seconds": trial.seconds,
    }


def bench_backend(backend: str, scratch: Scratch, args: argparse.Namespace
                  ) -> dict[str, Any]:
    url = scratch.fresh("shop").render_as_string(hide_password=False)
    lab = FaultLab(backend, url, args.rows, seed=args.seed, warm=not args.cold,
                   in_process_rerun=not args.cold, reference_db=True)
    trials: list[dict[str, Any]] = []
    concurrent: list[dict[str, Any]] = []
    began = time.perf_counter()
    try:
        for step in STEPS:
            for direction, mode, timing, count in plan(args, lab.server is not None):
                rng = random.Random(f"{args.seed}-{backend}-{step}-{direction}-{mode}-{timing}")
                for i in range(count):
                    trial = lab.kill_trial(step, direction, mode, rng, timing=timing)
                    trials.append(slim(trial))
                    log(f"{backend} {step} {direction} {mode}/{trial.timing} #{i + 1}: "
                        f"{trial.category or '-'}; repaired={trial.repaired} "
                        f"reached={trial.reached} data_ok={trial.data_ok}"
                        + (f" PROBLEMS {trial.problems}" if trial.problems else ""))
        for i in range(args.concurrent):
            outcome = lab.concurrent_trial()
            concurrent.append(outcome)
            log(f"{backend} two upgrades at once #{i + 1}: {outcome['outcome']}"
                + (f" PROBLEMS {outcome['problems']}" if outcome["problems"] else ""))
    finally:
        lab.close()
    return {"rows": args.rows, "trials": trials, "concurrent": concurrent,
            "windows_s": {f"{d} {s}": round(w, 3) for (d, s), w in lab.windows.items()},
            "elapsed_s": round(time.perf_counter() - began, 1)}


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per backend, step, direction and fault: counts of every outcome."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for backend, data in results["backends"].items():
        for t in data["trials"]:
            fault = "kill -9" if t["mode"] == "sigkill" else "session killed"
            when = "statements" if "ddl" in t["timing"] else "random"
            groups[(backend, t["step"], t["direction"], f"{fault}, {when}")].append(t)
    rows = []
    for (backend, step, direction, fault), ts in groups.items():
        cats = collections.Counter(t["category"].split(" (")[0] for t in ts)
        half = collections.Counter(t["category"] for t in ts if t["category"].startswith("half"))
        rows.append({
            "backend": backend, "step": step, "direction": direction, "fault": fault,
            "faults": len(ts), **{c: cats.get(c, 0) for c in CATEGORIES},
            "half_detail": dict(half),
            "fell_back": sum(t["timing"] != "ddl" and "ddl" in t["timing"] for t in ts),
            "repaired": sum(t["repaired"] for t in ts),
            "reached": sum(t["reached"] for t in ts),
            "data_ok": sum(t["data_ok"] for t in ts),
            "one_line": sum(t["killed_exit"] == 0 or (t["killed_err"].startswith(
                "shopmig: error:")) for t in ts) if "session" in fault else None,
            "problems": sum(bool(t["problems"]) for t in ts),
        })
    return rows


def markdown(results: dict[str, Any]) -> str:
    rows = summary(results)
    m = results["machine"]
    out = [
        "# Fault injection: kills during every step",
        "",
        f"{results['date']}, shopmig {m['shopmig']}, {m['cores']} cores, Python {m['python']}, "
        f"SQLite {m['sqlite']}"
        + "".join(f", {b} {m[b]}" for b in ("postgresql", "mariadb") if b in m)
        + f"; {results['settings']['rows']:,} orders per shop, seed {results['settings']['seed']}"
        f"; {results['elapsed_s'] / 60:.0f} min.",
        "",
        "Each row: one step, one direction, one kind of fault. *random* = a uniformly random "
        "moment of the time the process migrates; *statements* = within 20 ms of the step's "
        "statements starting (where they are too short to see, the random moment: *fell back*). "
        "State after the fault, once the dead client's server session ended: *untouched* "
        "(version and schema at the step's start), *done* (the step complete and recorded), "
        "*half-applied* (schema ahead of the version table, named by `shopmig diagnose`), "
        "*invalid index left*, *unnamed* (shopmig cannot name it: a failure). "
        "*Repaired* = the rerun began by recording the real revision (its `record:` line); an "
        "invalid index is dropped by the rerun's 0005 itself, before it builds the index. "
        "*Reached* = the rerun (`upgrade head`, or `downgrade` below the step) ended there "
        "with schema and version agreeing and no invalid index; *data* = row count and sum of "
        "amounts as before, every status `'pending'`, and `shopmig.verify` finds no "
        "difference against an untouched copy of the shop. *One line* = the run whose "
        "session was killed ended in one `shopmig: error:` line (or had finished).",
        "",
        "| backend | step | dir | fault | n | untouched | done | half-applied | invalid index "
        "| unnamed | fell back | repaired | reached | data | one line | problems |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        half = str(r["half-applied"])
        if r["half_detail"]:
            kinds = [f"{k.split('(')[1].rstrip(')')}: {v}"
                     for k, v in sorted(r["half_detail"].items())]
            half += f" ({'; '.join(kinds)})"
        out.append(
            f"| {r['backend']} | {r['step'][:4]} | {r['direction']} | {r['fault']} | "
            f"{r['faults']} | {r['untouched']} | {r['done']} | {half} | "
            f"{r['invalid index left']} | {r['unnamed']} | {r['fell_back']} | {r['repaired']} | "
            f"{r['reached']} | {r['data_ok']} | "
            f"{'' if r['one_line'] is None else r['one_line']} | {r['problems']} |")
    totals = collections.Counter()
    for r in rows:
        for key in ("faults", "unnamed", "reached", "data_ok", "problems", "repaired",
                    "half-applied", "invalid index left"):
            totals[key] += r[key]
    out += ["", f"**Totals:** {totals['faults']} faults; {totals['half-applied']} left a "
            f"half-applied step and {totals['invalid index left']} an invalid index, all "
            f"named; {totals['repaired']} repaired by the rerun; {totals['reached']} reruns "
            f"reached their goal; data unchanged after {totals['data_ok']}; "
            f"{totals['unnamed']} states shopmig could not name; {totals['problems']} faults "
            "with any failed check.", ""]
    out += ["## Two upgrades at once", "",
            "| backend | runs | outcomes | problems |", "|---|--:|---|--:|"]
    for backend, data in results["backends"].items():
        outcomes = collections.Counter(c["outcome"] for c in data["concurrent"])
        out.append(f"| {backend} | {len(data['concurrent'])} | "
                   + "; ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
                   + f" | {sum(bool(c['problems']) for c in data['concurrent'])} |")
    failed = [t for data in results["backends"].values() for t in data["trials"]
              if t["problems"]]
    failed_c = [c for data in results["backends"].values() for c in data["concurrent"]
                if c["problems"]]
    out += ["", "## Failed checks", ""]
    if not failed and not failed_c:
        out.append("None.")
    for t in failed:
        out.append(f"- {t['backend']} {t['step']} {t['direction']} {t['mode']}/{t['timing']}: "
                   + " | ".join(t["problems"]))
    for c in failed_c:
        out.append(f"- {c['backend']} two upgrades: " + " | ".join(c["problems"]))
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        write_atomic(args.out.with_suffix(".md"), markdown(json.loads(args.out.read_text())))
        return 0
    began = time.perf_counter()
    servers = {b: server_url(b) for b in args.backends if b in SERVER_ENV}
    results: dict[str, Any] = {
        "benchmark": "faults",
        "date": dt.date.today().isoformat(),
        "machine": machine_info(servers),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "revisions": REVS,
        "backends": {},
    }
    results["settings"]["servers"] = {b: shopmig.mask_url(u) for b, u in servers.items()}
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}_") as folder:
        for backend in args.backends:
            scratch = Scratch(backend, servers.get(backend), Path(folder), PREFIX)
            try:
                results["backends"][backend] = bench_backend(backend, scratch, args)
            finally:
                scratch.drop_all()
    results["elapsed_s"] = round(time.perf_counter() - began, 1)
    results["summary"] = summary(results)
    table = markdown(results)
    write_atomic(args.out, json.dumps(results, indent=1, default=str) + "\n")
    write_atomic(args.out.with_suffix(".md"), table)
    print(table)
    log(f"wrote {args.out} and {args.out.with_suffix('.md')} in {results['elapsed_s']}s")
    bad = sum(r["problems"] for r in results["summary"]) + sum(
        bool(c["problems"]) for d in results["backends"].values() for c in d["concurrent"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
