"""Command line: ``curvax run | resume | plot | list`` (also ``python -m experiments``).

Exit status: 0 done; 1 a run failed with an error; 2 a bad config or bad arguments (nothing
written); 130 interrupted with Ctrl-C (the finished pairs are kept, the run is marked
interrupted and can be continued with ``curvax resume RUN_DIR``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "resume":
            return _resume(args)
        if args.command == "plot":
            return _plot(args)
        return _list(args)
    except BrokenPipeError:  # e.g. `curvax list | head`
        return EXIT_OK


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


def _run(args) -> int:
    from experiments.records import new_run_dir

    spec = _validated(args.config, args.device)
    if spec is None:
        return EXIT_USAGE
    if args.out is not None:
        if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
            _err(f"--out {args.out}: exists and is not an empty folder; choose a new one")
            return EXIT_USAGE
        args.out.mkdir(parents=True, exist_ok=True)
        run_dir = args.out
    else:
        run_dir = new_run_dir(args.runs_dir, spec.name)
    print(f"curvax: {spec.name}: {len(spec.problems)} problem instance(s) x {len(spec.optimizers)} "
          f"optimizer(s) -> {run_dir}", file=sys.stderr)
    return _execute(spec, run_dir, args, resume=None)


def _resume(args) -> int:
    from experiments.records import load_run

    try:
        data = load_run(args.run_dir)
    except (FileNotFoundError, ValueError) as err:
        _err(str(err))
        return EXIT_USAGE
    if data.results.get("status") == "complete":
        _err(f"{args.run_dir}: this run is complete; nothing to resume")
        return EXIT_USAGE
    spec = _validated(args.run_dir / data.results.get("config", "config.toml"), args.device)
    if spec is None:
        return EXIT_USAGE
    return _execute(spec, args.run_dir, args, resume=data)


def _execute(spec, run_dir: Path, args, resume) -> int:
    from experiments.records import load_run
    from experiments.report import ProgressBar, summary_table
    from experiments.runner import PairError, run_experiment

    progress = ProgressBar(len(spec.problems) * len(spec.optimizers))
    status = EXIT_OK
    try:
        run_experiment(spec, run_dir, progress=progress, resume=resume)
    except KeyboardInterrupt:
        progress.close()
        _err(f"interrupted; finished pairs are kept in {run_dir} (continue with: curvax resume {run_dir})")
        status = EXIT_INTERRUPTED
    except PairError as err:
        progress.close()
        _err(f"{err}; the run is marked failed, finished pairs are kept in {run_dir}")
        status = EXIT_FAILED
    finally:
        progress.close()
    data = load_run(run_dir)
    if data.results["runs"]:
        print(summary_table(data.results))
    if not args.no_plots and data.results["runs"]:
        from experiments.plots import plot_run

        files = plot_run(data, formats=("png", "svg") if args.svg else None)
        print(f"curvax: {len(files)} figure(s) in {run_dir / 'plots'}", file=sys.stderr)
    print(f"curvax: results in {run_dir}", file=sys.stderr)
    return status


def _plot(args) -> int:
    from experiments.plots import plot_run

    try:
        files = plot_run(args.run_dir, formats=("png", "svg") if args.svg else None, out_dir=args.out)
    except (FileNotFoundError, ValueError) as err:
        _err(str(err))
        return EXIT_USAGE
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
        _err(f"no problem has the tag {args.tag!r}")
        return EXIT_USAGE
    for name in names:
        params = registry.params(name)
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        print(f"{name:<28} {shown}")
    return EXIT_OK
