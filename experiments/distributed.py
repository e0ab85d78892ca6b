"""One run across several processes, on JAX's own distributed runtime (``curvax run --distributed``).

Every process calls ``jax.distributed.initialize`` (coordinator address, process count and
id from the command line, or from a cluster environment JAX detects, e.g. SLURM) and runs
on its own local devices. The pairs still to run are dealt out round-robin in config order
(pair i to process i mod P); each process compiles and runs its pairs exactly as a
one-process run does (its starts sharded over its own devices). Process 0 alone owns the
run folder: the workers send each finished pair through the coordinator's key-value store
(JSON, zlib-compressed, in chunks) and process 0 records the pairs in config order, with
the run ids a one-process run gives them. So the records are those of a one-process run:
the same iterates and values for every start (each pair is computed by the same program on
the same kind of device), only the timings differ.

Failure: every worker posts a heartbeat every second and posts its error if it fails. When
a worker's heartbeat stops for ``heartbeat_timeout`` seconds (killed, out of memory, lost
host) or it reports an error, process 0 records the pairs it has, marks the run failed
and names the process; ``curvax resume RUN_DIR --distributed`` runs the missing pairs.
JAX's recoverable mode is switched on, so the death of a worker does not abort process 0
(without it the coordination service terminates every process). Before connecting, a
worker checks that the coordinator's address accepts connections within ``init_timeout``
seconds and process 0 that it can listen there: JAX's own connection failures abort the
process, so these are checked first, for one clear message.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from typing import Optional

import numpy as np

__all__ = ["Cluster", "ClusterError", "connect", "decode_outcome", "encode_outcome"]

_PREFIX = "curvax/"
_CHUNK = 1 << 20  # bytes per key-value entry
_BEAT = 1.0  # seconds between heartbeats


class ClusterError(RuntimeError):
    """The processes of a distributed run cannot start, or one of them stopped."""


def _address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--coordinator must be HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _wait_reachable(address: str, timeout: float) -> None:
    host, port = _address(address)
    deadline, reason = time.monotonic() + timeout, "no answer"
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, max(timeout, 0.1))):
                return
        except OSError as err:
            reason = err.strerror or str(err)
        if time.monotonic() >= deadline:
            raise ClusterError(f"cannot reach the coordinator at {address} within {timeout:g} s ({reason}); "
                               f"start process 0 there first, or check --coordinator")
        time.sleep(0.2)


def _check_listen(address: str) -> None:
    host, port = _address(address)
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as err:
        raise ClusterError(f"process 0 cannot listen on {address} ({err.strerror or err}): choose another "
                           f"--coordinator port") from None


def connect(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
            process_id: Optional[int] = None, *, init_timeout: float = 60.0,
            heartbeat_timeout: float = 60.0) -> "Cluster":
    """``jax.distributed.initialize`` with clear errors; call before anything touches a device.

    With no coordinator, JAX detects the cluster from its environment (SLURM, ...)."""
    import jax

    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ClusterError("--distributed takes --coordinator, --num-processes and --process-id together "
                           "(or none of them, inside a cluster JAX detects, e.g. SLURM)")
    if num_processes is not None:
        if num_processes < 1:
            raise ClusterError(f"--num-processes must be >= 1, got {num_processes}")
        if not 0 <= process_id < num_processes:
            raise ClusterError(f"--process-id must be in 0..{num_processes - 1}, got {process_id}")
    if init_timeout <= 0 or heartbeat_timeout <= 0:
        raise ClusterError("--init-timeout and --heartbeat-timeout must be > 0 seconds")
    if coordinator is not None:
        _address(coordinator)
        if process_id == 0:
            _check_listen(coordinator)
        else:
            _wait_reachable(coordinator, init_timeout)
    jax.config.update("jax_enable_recoverability", True)
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id,
                                   initialization_timeout=max(1, int(init_timeout)),
                                   heartbeat_timeout_seconds=max(1, int(heartbeat_timeout)) + 30,
                                   shutdown_timeout_seconds=max(1, int(heartbeat_timeout)))
    except (ValueError, RuntimeError) as err:
        raise ClusterError(f"jax.distributed.initialize failed: {str(err).splitlines()[0]}; outside a "
                           f"cluster JAX detects, give --coordinator, --num-processes and --process-id") from None
    from jax._src import distributed as _state

    cluster = Cluster(_state.global_state.client, jax.process_index(), jax.process_count(),
                      coordinator or "(detected)", heartbeat_timeout)
    if not cluster.is_main:
        cluster.start_heartbeat()  # from the start: process 0 may look before this one has work
    return cluster


class Cluster:
    """This process's place in a distributed run, and the messages between the processes."""

    def __init__(self, client, process_id: int, count: int, address: str, heartbeat_timeout: float):
        self.client, self.process_id, self.count = client, process_id, count
        self.address, self.heartbeat_timeout = address, heartbeat_timeout
        self._seen: dict[int, tuple[Optional[str], float]] = {}
        self._stop = threading.Event()
        self._beats: Optional[threading.Thread] = None
        self.finished = False  # process 0 has told the workers the run's end
        self._closed = False

    @property
    def is_main(self) -> bool:
        return self.process_id == 0

    def owner(self, index: int) -> int:
        """The process that runs the ``index``-th pair still to run."""
        return index % self.count

    # -- the key-value store ----------------------------------------------------------
    def publish(self, name: str, text: str) -> None:
        self.client.key_value_set(_PREFIX + name, text, allow_overwrite=True)

    def _try(self, name: str) -> Optional[str]:
        try:
            return self.client.key_value_try_get(_PREFIX + name)
        except Exception as err:  # NOT_FOUND is the only expected answer
            if "NOT_FOUND" in str(err):
                return None
            raise ClusterError(f"lost the coordinator at {self.address}: {str(err).splitlines()[0]}") from None

    def wait(self, name: str, *, sender: int, timeout: Optional[float] = None) -> str:
        """The value ``sender`` publishes as ``name``; ClusterError if ``sender`` stops first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            value = self._try(name)
            if value is not None:
                return value
            self.check(sender)
            if deadline is not None and time.monotonic() > deadline:
                raise ClusterError(f"process {sender} sent no {name!r} within {timeout:g} s")
            time.sleep(0.05)

    # -- liveness ----------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        def beat():
            count = 0
            while not self._stop.is_set():
                try:
                    self.publish(f"alive/{self.process_id}", str(count))
                except Exception:  # the coordinator is gone: the run has ended
                    return
                count += 1
                self._stop.wait(_BEAT)

        self._beats = threading.Thread(target=beat, name="curvax-heartbeat", daemon=True)
        self._beats.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()

    def check(self, process: int) -> None:
        """ClusterError when ``process`` (a worker) reported an error or its heartbeat stopped."""
        if process == self.process_id:
            return
        error = self._try(f"error/{process}")
        if error is not None:
            raise ClusterError(f"process {process} of {self.count} failed: {error}")
        if process == 0:
            return  # the coordinator's own process: its loss shows as a lost coordinator
        beat, now = self._try(f"alive/{process}"), time.monotonic()
        if process not in self._seen or self._seen[process][0] != beat:
            self._seen[process] = (beat, now)  # a new beat (or the first look): alive
            return
        if now - self._seen[process][1] > self.heartbeat_timeout:
            quiet = now - self._seen[process][1]
            state = "it never connected its heartbeat" if beat is None else f"no heartbeat for {quiet:.0f} s"
            raise ClusterError(f"process {process} of {self.count} stopped ({state}: killed, out of memory "
                               f"or its host lost)")

    def report_error(self, message: str) -> None:
        try:
            self.publish(f"error/{self.process_id}", message)
        except Exception:
            pass

    # -- finished pairs ----------------------------------------------------------------
    def send_pair(self, index: int, outcome) -> None:
        data = zlib.compress(encode_outcome(outcome).encode("utf-8"))
        chunks = [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [b""]
        for j, chunk in enumerate(chunks):
            self.client.key_value_set_bytes(f"{_PREFIX}pair/{index}/{j}", chunk, allow_overwrite=True)
        self.publish(f"pair/{index}", str(len(chunks)))  # last: the pair is complete

    def try_pair(self, index: int):
        """The fields of pair ``index``'s outcome if its owner has sent it, else None."""
        count = self._try(f"pair/{index}")
        if count is None:
            return None
        try:  # the chunks were written before the count
            data = b"".join(self.client.key_value_try_get_bytes(f"{_PREFIX}pair/{index}/{j}")
                            for j in range(int(count)))
        except Exception as err:
            raise ClusterError(f"lost the coordinator at {self.address}: {str(err).splitlines()[0]}") from None
        return decode_outcome(zlib.decompress(data).decode("utf-8"))

    def finish(self, status: str) -> None:
        """Process 0: tell the workers the run has ended, and wait until each has left (so
        that closing the coordinator does not pull the runtime from under a worker)."""
        self.publish("done", status)
        self.finished = True
        left = True
        for process in range(1, self.count):
            try:
                self.wait(f"left/{process}", sender=process, timeout=self.heartbeat_timeout)
            except ClusterError:  # stopped, failed or stuck: nothing to wait for
                left = False
        if left and self.count > 1:
            self.client.get_live_nodes(list(range(self.count)))  # returns once they have disconnected

    def wait_done(self) -> str:
        """A worker: wait until process 0 has recorded the run; then it may leave."""
        status = self.wait("done", sender=0)
        self.publish(f"left/{self.process_id}", "1")
        return status

    def shutdown(self) -> None:
        import jax

        self.stop_heartbeat()
        if self._closed:
            return
        self._closed = True
        try:
            jax.distributed.shutdown()
        except Exception:  # a process already gone: nothing left to close cleanly
            pass


# -- outcomes as text ------------------------------------------------------------------


def _plain(value):
    if isinstance(value, np.ndarray):
        return {"__array__": value.dtype.str if value.dtype != object else "object", "values": value.tolist()}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def _restore(obj):
    if isinstance(obj, dict) and "__array__" in obj:
        kind = obj["__array__"]
        return np.array(obj["values"], dtype=object if kind == "object" else np.dtype(kind))
    return obj


def encode_outcome(outcome) -> str:
    """A finished pair (``runner.PairOutcome``) as JSON text; floats round-trip exactly."""
    return json.dumps({"pair": outcome.pair, "runs": outcome.runs, "trace": outcome.trace,
                       "spectra": outcome.spectra}, default=_plain)


def decode_outcome(text: str) -> tuple:
    """``(pair, runs, trace, spectra)``, the fields of the ``runner.PairOutcome`` sent."""
    data = json.loads(text, object_hook=_restore)
    return data["pair"], data["runs"], data["trace"], data["spectra"]
