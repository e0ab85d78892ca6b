"""The command line's side of a distributed run: its options, when to connect, and what a
worker process does (see :mod:`experiments.distributed` for the protocol).

Every process runs the same command (``curvax run CONFIG --distributed ...``; a scheduler's
``srun`` does that). Process 0 validates the config, owns the run folder, records every
pair, prints the table and draws the figures; a worker takes process 0's config (so the
processes cannot disagree on it), runs its share of the pairs, prints a line per pair and
leaves when process 0 has recorded the run. Its exit status is 0 when the run completed.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Optional

__all__ = ["add_options", "connect_if_asked", "publish_config", "work"]


def add_options(command) -> None:
    """``--distributed`` and the coordinator's flags (``run`` and ``resume``)."""
    group = command.add_argument_group(
        "several processes (jax.distributed)",
        "one run across processes, each on its own devices; process 0 writes the records. Without "
        "--coordinator/--num-processes/--process-id, JAX detects the cluster (e.g. SLURM).")
    group.add_argument("--distributed", action="store_true",
                       help="run across the processes of a JAX distributed job (also: distributed = true)")
    group.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                       help="process 0's address, where it listens (every process gives the same)")
    group.add_argument("--num-processes", type=int, default=None, metavar="N", help="how many processes")
    group.add_argument("--process-id", type=int, default=None, metavar="I", help="this process, 0..N-1")
    group.add_argument("--init-timeout", type=float, default=60.0, metavar="S",
                       help="seconds to wait for the coordinator and the other processes (default 60)")
    group.add_argument("--heartbeat-timeout", type=float, default=60.0, metavar="S",
                       help="a worker silent this many seconds has stopped: the run fails (default 60)")


def _config_key(path: Optional[Path]) -> bool:
    """``distributed = true`` in the config at ``path`` (read before JAX starts; a config that
    cannot be read is reported by the normal validation)."""
    if path is None:
        return False
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig")).get("distributed") is True
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def connect_if_asked(args, config: Optional[Path]):
    """The :class:`~experiments.distributed.Cluster` when the flag or the config asks for one
    (connected before anything touches a device), else None. ClusterError on failure."""
    if not (args.distributed or _config_key(config)):
        return None
    from experiments.distributed import connect

    return connect(args.coordinator, args.num_processes, args.process_id,
                   init_timeout=args.init_timeout, heartbeat_timeout=args.heartbeat_timeout)


def publish_config(cluster, spec) -> None:
    """Process 0: the config every worker runs."""
    cluster.publish("config", json.dumps({"text": spec.text, "source": spec.source, "device": spec.device,
                                          "devices": spec.devices}))


def work(args, cluster, local_text: Optional[str], err, start_cache) -> int:
    """A worker's whole run; returns its exit status. ``local_text``: its own config's text
    (``run``), which must be process 0's; None for ``resume`` (the folder is process 0's).
    ``err`` prints one error line; ``start_cache(spec, args)`` sets up the compilation cache."""
    from experiments import stop
    from experiments.config import ConfigError, loads
    from experiments.distributed import ClusterError
    from experiments.runner import PairError, run_experiment

    where = f"process {cluster.process_id} of {cluster.count}"
    try:
        shared = json.loads(cluster.wait("config", sender=0))
        if local_text is not None and local_text.removeprefix("\ufeff") != shared["text"].removeprefix("\ufeff"):
            message = f"{where}: its config differs from process 0's; start every process with the same config"
            cluster.report_error(message)
            err(message)
            return 2
        spec = loads(shared["text"], source=f"{shared['source']} (from process 0)")
        spec = spec.with_device(args.device or shared["device"], args.devices or shared["devices"] or None)
        start_cache(spec, args)
        sent = []

        class Lines:  # a line per pair on stderr: a worker has no bar of its own
            def step(self, text, kept=False):
                sent.append(text)
                print(f"curvax: {where}: {text}", file=sys.stderr, flush=True)

            def show(self, text):
                pass

        run_experiment(spec, None, progress=Lines(), cluster=cluster)
        status = cluster.wait_done()
    except (ClusterError, ConfigError, PairError) as error:
        cluster.report_error(str(error))
        err(f"{where}: {error}")
        return 1
    except KeyboardInterrupt as error:
        stopped = stop.as_stop(error)
        err(f"{where}: interrupted ({stopped.name}); process 0 marks the run failed")
        return stopped.exit_status
    finally:
        cluster.shutdown()
    print(f"curvax: {where}: {len(sent)} pair(s) sent to process 0; the run is {status}", file=sys.stderr)
    return 0 if status == "complete" else 1
