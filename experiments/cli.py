"""Command line: ``curvax run | resume | plot | list`` (also ``python -m experiments``).

Exit status: 0 done; 1 a run failed (an error, or a file that cannot be written: the line
names it); 2 a bad config or bad arguments (nothing written); 128 + the signal's number when
stopped by a signal: 130 Ctrl-C (SIGINT), 143 SIGTERM (a scheduler's kill), 129 SIGHUP. When
stopped, the finished pairs are kept, the run is marked interrupted and can be continued
with ``curvax resume RUN_DIR``. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from pathlib import Path

from experiments.files import RecordError
from experiments.run_lock import RunLocked

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="curvax",
        description="Compare second-order and first-order optimizers on test loss surfaces from TOML configs.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,resume,plot,list}")

    run = sub.add_parser("run", help="run a config: every problem x optimizer x start, then plot")
    run.add_argument("config", type=Path, help="a TOML experiment config (see docs/configs.md)")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (must be new or empty); default runs/<name>/<timestamp>/")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"),
                     help="parent of the default output folder (default: ./runs)")
    run.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                     help="override the config's device")
    run.add_argument("--no-plots", action="store_true", help="write the records only")
    run.add_argument("--svg", action="store_true", help="also write SVG figures")

    res = sub.add_parser("resume", help="continue an interrupted run (keeps its finished pairs)")
    res.add_argument("run_dir", type=Path)
    res.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None)
    res.add_argument("--no-plots", action="store_true")
    res.add_argument("--svg", action="store_true")

    plot = sub.add_parser("plot", help="re-draw the plots of a stored run (nothing is re-run)")
    plot.add_argument("run_dir", type=Path)
    plot.add_argument("--svg", action="store_true", help="also write SVG figures")
    plot.add_argument("--out", type=Path, default=None, help="folder for the figures (default RUN_DIR/plots)")

    lst = sub.add_parser("list", help="list the problems or the methods a config can name")
    lst.add_argument("what", nargs="?", choices=("problems", "methods"), default="problems")
    lst.add_argument("--tag", default=None, help="only problems with this tag")
    return p


def _err(message: str) -> None:
    print(f"curvax: error: {message}", file=sys.stderr)


def main(argv=None) -> int:
    """Entry point of the ``curvax`` console script; returns the exit status."""
    from experiments import stop

    restore = stop.install()
    try:
        args = _parser().parse_args(argv)
        if args.command == "run":
            return _run(args)
        if args.command == "resume":
            return _resume(args)
        if args.command == "plot":
            return _plot(args)
        return _list(args)
    except BrokenPipeError:  # e.g. `curvax list | head`
        return EXIT_OK
    except (KeyboardInterrupt, ImportError) as err:  # before a run folder was written to
        stopped = stop.as_stop(err)
        if stopped is None:
            raise
        _err(f"interrupted ({stopped.name})")
        return stopped.exit_status
    finally:
        restore()


def _validated(path: Path, device):
    from experiments.backend import DeviceError, select_device
    from experiments.config import ConfigError, load

    try:
        spec = load(path)
        if device is not None:
            spec = spec.with_device(device)
        select_device(spec.device)
    except (ConfigError, DeviceError) as err:
        _err(str(err))
        return None
    return spec


def _writer(command):
    """A command that writes a run folder: a held lock and an unwritable file are one line."""

    @functools.wraps(command)
    def run(args) -> int:
        try:
            return command(args)
        except RunLocked as err:
            _err(str(err))
            return EXIT_USAGE
        except RecordError as err:
            _err(str(err))
            return EXIT_FAILED

    return run


@_writer
def _run(args) -> int:
    from experiments import stop
    from experiments.records import new_run_dir
    from experiments.run_lock import LOCK_NAME, RunLock

    spec = _validated(args.config, args.device)
    if spec is None:
        return EXIT_USAGE
    stop.check()  # a signal during the imports and the config check: nothing is written
    run_dir = made = None
    try:
        if args.out is not None:
            out = args.out
            if out.exists() and not out.is_dir():
                _err(f"--out {out}: exists and is not a folder; choose a new one")
                return EXIT_USAGE
            if out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()):
                _err(f"--out {out}: exists and is not an empty folder; choose a new one")
                return EXIT_USAGE
            made = None if out.exists() else out
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise RecordError(out, err, "create") from None
            run_dir = out
        else:
            if args.runs_dir.exists() and not args.runs_dir.is_dir():
                _err(f"--runs-dir {args.runs_dir}: exists and is not a folder")
                return EXIT_USAGE
            run_dir = made = new_run_dir(args.runs_dir, spec.name)
        with RunLock(run_dir):
            if args.out is not None and any(p.name != LOCK_NAME for p in run_dir.iterdir()):
                _err(f"--out {run_dir}: another run started writing here first; choose a new folder")
                return EXIT_USAGE
            print(f"curvax: {spec.name}: {len(spec.problems)} problem instance(s) x {len(spec.optimizers)} "
                  f"optimizer(s) -> {run_dir}", file=sys.stderr)
            return _execute(spec, run_dir, args, resume=None)
    finally:
        if made is not None and made.is_dir() and not any(made.iterdir()):
            made.rmdir()  # stopped before anything was written: leave no empty run folder


@_writer
def _resume(args) -> int:
    from experiments.records import config_digest, load_run
    from experiments.run_lock import RunLock

    with RunLock(args.run_dir) if args.run_dir.is_dir() else contextlib.nullcontext():
        try:
            data = load_run(args.run_dir, trace_required=False)
        except (FileNotFoundError, ValueError) as err:
            _err(str(err))
            return EXIT_USAGE
        if data.results.get("status") == "complete":
            _err(f"{args.run_dir}: this run is complete; nothing to resume")
            return EXIT_USAGE
        config_path = args.run_dir / data.results.get("config", "config.toml")
        stored = data.results.get("config_sha256")
        if stored is not None and config_path.is_file() and config_digest(data.config_text) != stored:
            _err(f"{config_path}: edited after the run started, so its finished pairs no longer match it; "
                 f"restore the file, or start a new run: curvax run {config_path}")
            return EXIT_USAGE
        spec = _validated(config_path, args.device)
        if spec is None:
            return EXIT_USAGE
        return _execute(spec, args.run_dir, args, resume=data)


def _execute(spec, run_dir: Path, args, resume) -> int:
    from experiments import stop
    from experiments.records import RecordError, load_run
    from experiments.report import ProgressBar, summary_table
    from experiments.runner import PairError, run_experiment

    stop.check()

    progress = ProgressBar(len(spec.problems) * len(spec.optimizers))
    status = EXIT_OK
    try:
        run_experiment(spec, run_dir, progress=progress, resume=resume)
    except KeyboardInterrupt as err:
        progress.close()
        stopped = stop.as_stop(err)
        _err(f"interrupted ({stopped.name}); finished pairs are kept in {run_dir} "
             f"(continue with: curvax resume {run_dir})")
        status = stopped.exit_status
    except PairError as err:
        progress.close()
        _err(f"{err}; the run is marked failed, finished pairs are kept in {run_dir}")
        status = EXIT_FAILED
    except RecordError as err:
        progress.close()
        _err(f"{err}; the run stopped; finished pairs are kept in {run_dir} "
             f"(continue with: curvax resume {run_dir} once it can be written)")
        status = EXIT_FAILED
    finally:
        progress.close()
    try:
        data = load_run(run_dir, trace_required=False)
    except (FileNotFoundError, ValueError, RecordError):  # stopped before results.json was written
        return status
    if data.results["runs"]:
        print(summary_table(data.results))
        _solved(spec, run_dir, data.results, write=status != EXIT_FAILED)
    if status == EXIT_OK and stop.pending() is not None:  # a signal swallowed after the last pair
        return stop.Stopped(stop.pending()).exit_status
    if status != EXIT_FAILED and not args.no_plots and data.results["runs"]:
        from experiments.plots import plot_run

        try:
            files = plot_run(data, formats=("png", "svg") if args.svg else None)
        except OSError as err:
            _err(f"cannot write the figures: {_os_error(err)}; the records are complete "
                 f"(draw them later with: curvax plot {run_dir})")
            return EXIT_FAILED
        print(f"curvax: {len(files)} figure(s) in {run_dir / 'plots'}", file=sys.stderr)
    print(f"curvax: results in {run_dir}", file=sys.stderr)
    return status


def _solved(spec, run_dir: Path, results: dict, write: bool) -> None:
    """``solved.csv`` (per method: solved, failed by reason, total) for every run, unless it
    failed (a full disk: the one error line is the one that stopped it; resume writes it);
    the same as a table on stdout for suites (SUITE_MIN_PROBLEMS problem instances or more)."""
    from experiments.files import atomic_write
    from experiments.report import SUITE_MIN_PROBLEMS, solved_csv, solved_rows, solved_table

    rows = solved_rows(results, tol=spec.plots.profile_tol)
    if len({r["problem"] for r in results["runs"]}) >= SUITE_MIN_PROBLEMS:
        print()
        print(solved_table(rows, tol=spec.plots.profile_tol))
    if write:
        atomic_write(run_dir / "solved.csv", solved_csv(rows))


def _os_error(err: OSError) -> str:
    """One line for an OSError: the path and the reason."""
    if err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


def _plot(args) -> int:
    from experiments.plots import plot_run
    from experiments.records import RecordError, load_run

    try:
        data = load_run(args.run_dir)
    except (FileNotFoundError, ValueError, RecordError) as err:
        _err(str(err))
        return EXIT_USAGE
    if not data.results["runs"]:
        _err(f"{args.run_dir}: no finished pair is recorded in it; nothing to plot")
        return EXIT_USAGE
    try:
        files = plot_run(data, formats=("png", "svg") if args.svg else None, out_dir=args.out)
    except (FileNotFoundError, ValueError) as err:
        _err(str(err))
        return EXIT_USAGE
    except OSError as err:
        _err(f"cannot write the figures: {_os_error(err)}")
        return EXIT_FAILED
    for f in files:
        print(f)
    return EXIT_OK


def _list(args) -> int:
    if args.what == "methods":
        import optimizers

        for name in optimizers.method_names():
            opts = optimizers.method_options(name)
            shown = ", ".join(f"{k}={v!r}" for k, v in opts.items() if not callable(v))
            print(f"{name:<20} {shown}")
        return EXIT_OK
    from experiments import problems as registry

    try:
        names = registry.names(args.tag)
    except (TypeError, ValueError) as err:
        _err(str(err))
        return EXIT_USAGE
    if not names:
        missing = registry.unavailable(tag=args.tag)
        _err(f"no problem has the tag {args.tag!r}" + (f": {missing}" if missing else ""))
        return EXIT_USAGE
    for name in names:
        params = registry.params(name)
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        print(f"{name:<28} {shown}")
    return EXIT_OK
