"""Command line: ``curvax run | resume | plot | list | cache | explore`` (also ``python -m experiments``).

The command owns its process: before JAX starts it sets the XLA options of
:data:`experiments.xla_flags.CLI_FLAGS` unless ``XLA_FLAGS`` is set, and ``run``/``resume``
turn on JAX's persistent compilation cache (:mod:`experiments.compile_cache`; off with
``--no-cache`` or ``compilation_cache = false`` in the config).

Exit status: 0 done; 1 a run failed (an error, or a file that cannot be written: the line
names it); 2 a bad config or bad arguments (nothing written); 128 + the signal's number when
stopped by a signal: 130 Ctrl-C (SIGINT), 143 SIGTERM (a scheduler's kill), 129 SIGHUP. When
stopped, the finished pairs are kept, the run is marked interrupted and can be continued
with ``curvax resume RUN_DIR``. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import os
import sys
import threading
from pathlib import Path

from experiments.files import RecordError
from experiments.run_lock import RunLocked

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# How long the first timed call waits for the figure helper to finish its imports (about
# 1.5 s of CPU); past that the run goes on and the figures are drawn here.
_HELPER_START_S = 20.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="curvax",
        description="Compare second-order and first-order optimizers on test loss surfaces from TOML configs.",
        epilog="Start with: curvax run configs/quickstart.toml. Each command has its own --help. "
               "Exit status: 0 done, 1 a run failed, 2 a bad config or arguments, 130 Ctrl-C.",
    )
    p.add_argument("--version", action="version", version=f"curvax {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,resume,plot,list,cache,explore}")

    run = sub.add_parser(
        "run", help="run a config: every problem x optimizer x start, then plot",
        description="Validate the config, then run every (problem, optimizer) pair over all its starts in "
                    "one compiled, vmapped call each; record results.json, trace.csv, environment.json and "
                    "solved.csv in the output folder, print a summary table and draw the figures. Programs "
                    "are kept in a compilation cache (see: curvax cache --help), so a second run of the same "
                    "config compiles nothing. Ctrl-C keeps the finished pairs: continue with curvax resume.",
        epilog="The config schema, with every key: docs/configs.md.")
    run.add_argument("config", type=Path, help="a TOML experiment config (see docs/configs.md)")
    run.add_argument("--out", type=Path, default=None,
                     help="output folder (must be new or empty); default runs/<name>/<timestamp>/")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"),
                     help="parent of the default output folder (default: ./runs)")
    _running_options(run)

    res = sub.add_parser(
        "resume", help="continue an interrupted run (keeps its finished pairs)",
        description="Run the pairs an interrupted or failed run did not finish, with the config copy stored "
                    "in RUN_DIR (refused if that copy was edited), then print the table and draw the figures.")
    res.add_argument("run_dir", type=Path, help="the run folder (holds results.json and config.toml)")
    _running_options(res)

    cache = sub.add_parser(
        "cache", help="show or clear the compilation cache",
        description="curvax run keeps the compiled programs in JAX's persistent compilation cache, in "
                    "$CURVAX_CACHE_DIR or else the user's cache folder (~/.cache/curvax/jax on Linux). "
                    "Entries are keyed by JAX on the program, the jax/jaxlib versions, the XLA flags and "
                    "the device, so a stale entry is never used. Turn it off per run with --no-cache, per "
                    "config with compilation_cache = false, or everywhere with CURVAX_CACHE=0.")
    cache.add_argument("action", nargs="?", choices=("info", "clear"), default="info",
                       help="info (default): where it is and how big; clear: remove every entry")

    plot = sub.add_parser(
        "plot", help="re-draw the plots of a stored run (nothing is re-run)",
        description="Draw the figures of a stored run from its records (results.json, trace.csv) and print "
                    "their paths; the [plots] table of the run's config copy says which.")
    plot.add_argument("run_dir", type=Path, help="the run folder")
    plot.add_argument("--svg", action="store_true", help="also write SVG figures")
    plot.add_argument("--out", type=Path, default=None, help="folder for the figures (default RUN_DIR/plots)")

    lst = sub.add_parser(
        "list", help="list the problems or the methods a config can name",
        description="problems: name, dimension at the default parameters, tags and description of every "
                    "built-in problem (name them in [[problems]]; --long adds their parameters). methods: "
                    "every optimizer's name and what it is (name them in [[optimizers]] method = ...; "
                    "--long adds the options and their defaults).")
    lst.add_argument("what", nargs="?", choices=("problems", "methods"), default="problems")
    lst.add_argument("--tag", default=None, help="only problems with this tag (e.g. 2d, mgh, cutest)")
    lst.add_argument("-l", "--long", action="store_true", help="also the parameters / options and their defaults")

    from experiments.explore.command import add_parser

    add_parser(sub)
    return p


def _running_options(command) -> None:
    """The options ``run`` and ``resume`` share."""
    command.add_argument("--device", choices=("cpu", "gpu", "auto"), default=None,
                         help="override the config's device")
    command.add_argument("--devices", type=int, default=None, metavar="N",
                         help="shard each pair's starts over the first N devices of the platform (default: the "
                              "config's devices, else all)")
    command.add_argument("--no-plots", action="store_true", help="write the records only")
    command.add_argument("--svg", action="store_true", help="also write SVG figures")
    command.add_argument("--no-cache", action="store_true",
                         help="compile everything afresh: do not read or write the compilation cache")
    from experiments.distributed_cli import add_options

    add_options(command)


def _version() -> str:
    import importlib.metadata as md

    try:
        return md.version("curvax")
    except md.PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def _err(message: str) -> None:
    print(f"curvax: error: {message}", file=sys.stderr)


def console_main() -> None:
    """The ``curvax`` console script (and ``python -m experiments``): :func:`main`, then a
    quick exit. Threads still running are joined (a compile writing its cache entry), the
    atexit handlers run (JAX's, logging's) and the standard streams are flushed, but the
    interpreter's teardown of every module and of XLA's runtime is skipped: 0.2-0.4 s of a
    5 s run that drew figures, spent freeing memory the OS frees anyway."""
    status = main()
    for thread in threading.enumerate():  # what the interpreter would wait for (a compile
        if thread is not threading.main_thread() and not thread.daemon:  # finishing its cache write)
            thread.join()
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None:  # not CPython: the ordinary way out
        sys.exit(status)
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, e.g. `curvax list | head`
            pass
    os._exit(status)


def main(argv=None) -> int:
    """Entry point of the command line; returns the exit status."""
    from experiments import stop
    from experiments.xla_flags import set_cli_flags

    set_cli_flags()
    restore = stop.install()
    try:
        args = _parser().parse_args(argv)
        if args.command == "cache":
            return _cache(args)
        if args.command == "run":
            return _run(args)
        if args.command == "resume":
            return _resume(args)
        if args.command == "plot":
            return _plot(args)
        if args.command == "explore":
            from experiments.explore.command import explore

            return explore(args, _err)
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


def _validated(path: Path, device, devices=None):
    from experiments.backend import DeviceError, select_devices
    from experiments.config import ConfigError, load

    try:
        spec = load(path)
        if device is not None or devices is not None:
            spec = spec.with_device(device or spec.device, devices)
        select_devices(spec.device, spec.devices)
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


def _cluster(args, config):
    """The distributed run's Cluster (connected now, before any device is touched), None
    for a one-process run, False after an error line."""
    from experiments.distributed import ClusterError
    from experiments.distributed_cli import connect_if_asked

    try:
        return connect_if_asked(args, config)
    except ClusterError as err:
        _err(str(err))
        return False


@contextlib.contextmanager
def _as_main(cluster):
    """Process 0: if it stops before the run has ended (a bad config, a held lock), the
    workers are told so instead of waiting; the runtime is closed either way."""
    try:
        yield
    finally:
        if cluster is not None:
            if not cluster.finished:
                cluster.report_error("process 0 stopped before the run ended (see its output)")
            cluster.shutdown()


@_writer
def _run(args) -> int:
    cluster = _cluster(args, args.config)
    if cluster is False:
        return EXIT_USAGE
    if cluster is not None and not cluster.is_main:
        from experiments.distributed_cli import work

        try:
            local = args.config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            local = None  # process 0's config is run; this copy is only compared when readable
        return work(args, cluster, local, _err, _start_cache)
    with _as_main(cluster):
        return _run_main(args, cluster)


def _run_main(args, cluster) -> int:
    from experiments import plot_workers

    workers = None if args.no_plots else _plot_workers()  # before the imports and the config check
    try:
        spec = _validated(args.config, args.device, args.devices)
        if workers is not None and (spec is None or not plot_workers.wanted(spec)):
            workers.close()
            workers = None
        if spec is None:
            return EXIT_USAGE
        return _make_and_run(spec, args, cluster, workers)
    finally:
        if workers is not None:
            workers.close()


def _make_and_run(spec, args, cluster, workers) -> int:
    from experiments import stop
    from experiments.records import new_run_dir
    from experiments.run_lock import LOCK_NAME, RunLock
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
            return _execute(spec, run_dir, args, resume=None, cluster=cluster, workers=workers)
    finally:
        if made is not None and made.is_dir() and not any(made.iterdir()):
            made.rmdir()  # stopped before anything was written: leave no empty run folder


@_writer
def _resume(args) -> int:
    from experiments.records import config_digest, load_run
    from experiments.run_lock import RunLock

    cluster = _cluster(args, args.run_dir / "config.toml")
    if cluster is False:
        return EXIT_USAGE
    if cluster is not None and not cluster.is_main:
        from experiments.distributed_cli import work

        return work(args, cluster, None, _err, _start_cache)  # the folder is process 0's
    with _as_main(cluster), RunLock(args.run_dir) if args.run_dir.is_dir() else contextlib.nullcontext():
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
        spec = _validated(config_path, args.device, args.devices)
        if spec is None:
            return EXIT_USAGE
        return _execute(spec, args.run_dir, args, resume=data, cluster=cluster)


def _execute(spec, run_dir: Path, args, resume, cluster=None, workers=None) -> int:
    """Run and draw; ``workers``: a figure helper started (and stopped) by the caller, else
    one is started here if :func:`experiments.plot_workers.wanted` and stopped on the way out."""
    from experiments import stop

    started = None  # a helper started here is stopped here; one passed in, by its starter
    try:
        stop.check()
        _start_cache(spec, args)
        if workers is None and not args.no_plots:
            workers = started = _plot_workers(spec)
        return _run_and_draw(spec, run_dir, args, resume, cluster, workers)
    finally:
        if started is not None:
            started.close()


def _plot_workers(spec=None):
    """A helper process for the figures (:mod:`experiments.plot_workers`), started as early
    as possible so that its imports overlap the run's. ``spec`` None: before the config is
    read, on the chance that it is worth it (two CPUs); the caller checks ``wanted`` after.
    None: not worth it, or it could not start (the figures are then drawn here)."""
    from experiments import plot_workers

    if (spec is None and plot_workers.usable_cpus() < 2) or (spec is not None and not plot_workers.wanted(spec)):
        return None
    try:
        return plot_workers.PlotWorkers()
    except OSError as err:  # no processes left, say: draw here
        print(f"curvax: warning: no helper process for the figures ({_os_error(err)}); drawing them here",
              file=sys.stderr)
        return None


def _run_and_draw(spec, run_dir: Path, args, resume, cluster, workers) -> int:
    from experiments import stop
    from experiments.distributed import ClusterError
    from experiments.records import RecordError, load_run
    from experiments.report import ProgressBar, summary_table
    from experiments.runner import PairError, run_experiment

    formats = ("png", "svg") if args.svg else None  # None: the config's [plots] formats
    if cluster is not None:
        from experiments.distributed_cli import publish_config

        publish_config(cluster, spec)
        print(f"curvax: one run across {cluster.count} processes (this is process 0: it records)",
              file=sys.stderr)

    progress = ProgressBar(len(spec.problems) * len(spec.optimizers))
    status = EXIT_OK
    try:
        run_experiment(spec, run_dir, progress=progress, resume=resume, cluster=cluster,
                       before_timing=None if workers is None else lambda: workers.wait_ready(_HELPER_START_S,
                                                                                            poll=stop.check))
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
    except ClusterError as err:
        progress.close()
        _err(f"{err}; the run is marked failed, finished pairs are kept in {run_dir} "
             f"(continue with: curvax resume {run_dir} --distributed ...)")
        status = EXIT_FAILED
    finally:
        progress.close()
        if cluster is not None:  # the workers leave now; plotting needs no other process
            cluster.finish("complete" if status == EXIT_OK else "failed")
    if workers is not None and status != EXIT_FAILED:  # the helper loads the records meanwhile
        workers.begin(run_dir, formats=formats)
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
            files = plot_run(data, formats=formats, workers=workers)
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


def _start_cache(spec, args) -> None:
    from experiments import compile_cache

    if getattr(args, "no_cache", False):
        compile_cache.disabled("--no-cache")
    elif compile_cache.off_by_environment():
        compile_cache.disabled(f"CURVAX_CACHE={os.environ['CURVAX_CACHE']}")
    elif not spec.compilation_cache:
        compile_cache.disabled("compilation_cache = false in the config")
    else:
        compile_cache.enable()


def _cache(args) -> int:
    from experiments import compile_cache

    if args.action == "clear":
        try:
            removed = compile_cache.clear()
        except compile_cache.NotACache as err:
            _err(str(err))
            return EXIT_USAGE
        except OSError as err:
            _err(f"cannot clear the compilation cache: {_os_error(err)}")
            return EXIT_FAILED
        print(f"curvax: removed {removed} file(s) from {compile_cache.cache_dir()}")
        return EXIT_OK
    info = compile_cache.info()
    print(f"compilation cache: {info['dir']}")
    if not info["exists"]:
        print("  (not created yet: the first `curvax run` creates it)")
    else:
        print(f"  {info['entries']} file(s), {_size(info['bytes'])}; {info['programs']} of them traced "
              "programs (a warm run neither traces nor compiles)")
    print("  set CURVAX_CACHE_DIR to move it; `curvax run --no-cache` or `compilation_cache = false` "
          "in a config turns it off")
    return EXIT_OK


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _list(args) -> int:
    from experiments import catalog

    live = "optimizers" in sys.modules or "experiments.problems" in sys.modules
    if args.what == "methods":
        for m in (catalog.build() if live else catalog.load())["methods"]:
            _print_row(f"{m['name']:<20} ", m["doc"])
            if args.long:
                shown = ", ".join(f"{k}={v!r}" for k, v in m["options"].items())
                print(f"{'':<20} options: {shown}")
        return EXIT_OK
    data = None
    if args.tag is not None and not live:
        data = catalog.load()
        if any(args.tag in d["tags"] for d in data["deferred"]):
            data = None  # a deferred source's problems: only its package knows them
    if data is None and (args.tag is not None or live):
        return _list_live_problems(args)
    data = data or catalog.load()
    rows = [p for p in data["problems"] if args.tag is None or args.tag in p["tags"]]
    if not rows:
        _err(f"no problem has the tag {args.tag!r}; known tags: "
             + ", ".join(sorted({t for p in data["problems"] for t in p["tags"]})))
        return EXIT_USAGE
    nw = max(len(p["name"]) for p in rows)
    _problem_header(nw)
    for p in rows:
        _problem_row(nw, p["name"], p["dim"], p["tags"], p["description"], p["params"], args.long)
    if args.tag is None:
        for d in data["deferred"]:
            print(f"\n{d['what']} ({d['prefix']}*): curvax list problems --tag {d['tags'][0]}")
    return EXIT_OK


def _problem_header(nw: int) -> None:
    _print_row(f"{'name':<{nw}} {'dim':>5}  {'tags':<26} ", "description")


def _problem_row(nw, name, dim, tags, description, params, long) -> None:
    _print_row(f"{name:<{nw}} {dim:>5}  {', '.join(tags):<26} ", description)
    if long and params:
        print(f"{'':<{nw}} {'':>5}  parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items()))


def _print_row(head: str, tail: str) -> None:
    """``head`` then ``tail``, cut to the terminal's width on a terminal (whole into a pipe)."""
    import shutil

    line = head + tail
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None
    print(line if width is None or len(line) <= width else line[: max(width - 3, len(head))] + "...")


def _list_live_problems(args) -> int:
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
    nw = max(len(name) for name in names)
    _problem_header(nw)
    for name in names:
        problem = registry.get(name)
        description = problem.description or (registry._entry(name).factory.__doc__ or "")
        lines = [line.strip() for line in description.strip().splitlines() if line.strip()]
        _problem_row(nw, name, problem.dim, problem.tags, lines[0] if lines else "", registry.params(name), args.long)
    return EXIT_OK
