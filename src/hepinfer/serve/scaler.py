"""The autoscaling controller: replicas as processes on this machine, behind nginx.

`Autoscaler` starts `min_replicas` ``hepinfer serve`` processes and an nginx balancer
(`hepinfer.serve.balancer`) in front of them, then every `interval_s` scrapes each replica's
``/metrics``, computes SuperSONIC's queue-time expression and applies `decide`
(`hepinfer.serve.autoscale`): new replicas are started, waited for (gRPC ServerReady) and
only then added to nginx; a replica to remove is first taken out of nginx (a reload whose old
workers finish the requests in flight: the drain) and stopped after that, so no request is
dropped. It is what KEDA and the HorizontalPodAutoscaler do in a cluster, run by one process.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from hepinfer.errors import ServeError
from hepinfer.serve.autoscale import (
    Decision,
    ScalePolicy,
    ScaleState,
    Scrape,
    decide,
    parse_counters,
    prune,
    queue_time_ms,
)
from hepinfer.serve.balancer import BalancerConfig, NginxBalancer, free_port

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoscaleOptions:
    """What to serve and how to scale it."""

    repositories: tuple[Path, ...]
    policy: ScalePolicy = field(default_factory=ScalePolicy)
    #: seconds between two scrapes and decisions (Prometheus scrape / KEDA polling interval)
    interval_s: float = 2.0
    #: only this model's series count (None: every model, as the plain expression)
    model: str | None = None
    host: str = "127.0.0.1"
    #: the balancer's gRPC port (0: a free one)
    grpc_port: int = 8101
    #: more `hepinfer serve` arguments for every replica
    serve_args: tuple[str, ...] = ()
    ready_timeout_s: float = 120.0
    drain_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "repositories", tuple(Path(p) for p in self.repositories))
        object.__setattr__(self, "serve_args", tuple(self.serve_args))
        if not self.repositories:
            msg = "AutoscaleOptions needs at least one model repository folder"
            raise ServeError(msg)
        if not self.interval_s > 0:
            msg = f"interval {self.interval_s} s must be positive"
            raise ServeError(msg)
        if self.interval_s * 2 > self.policy.window_s:
            msg = (
                f"window {self.policy.window_s} s holds fewer than two scrapes "
                f"{self.interval_s} s apart; make it at least twice the interval"
            )
            raise ServeError(msg)


class Replica:
    """One ``hepinfer serve`` process on free ports (gRPC and metrics; no REST)."""

    def __init__(self, options: AutoscaleOptions, name: str) -> None:
        self.name = name
        self.grpc_port = free_port(options.host)
        self.metrics_port = free_port(options.host)
        self.grpc_url = f"{options.host}:{self.grpc_port}"
        self.metrics_url = f"http://{options.host}:{self.metrics_port}/metrics"
        command = [
            sys.executable, "-m", "hepinfer", "serve", *map(str, options.repositories),
            "--host", options.host, "--grpc-port", str(self.grpc_port), "--http-port", "-1",
            "--metrics-port", str(self.metrics_port), *options.serve_args,
        ]  # fmt: skip
        # the log goes to a file: a pipe nobody reads would block a chatty replica
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=self._log)

    def log_tail(self, size: int = 2000) -> str:
        """The end of the replica's log (stderr)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-size:]

    def ready(self) -> bool:
        """Whether the replica answers ServerReady with true."""
        import grpc
        from tritonclient.grpc import service_pb2 as pb
        from tritonclient.grpc import service_pb2_grpc

        with grpc.insecure_channel(self.grpc_url) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            try:
                return bool(stub.ServerReady(pb.ServerReadyRequest(), timeout=1.0).ready)
            except grpc.RpcError:
                return False

    def wait_ready(self, timeout: float) -> None:
        """Wait until ready; a replica that exits or stays unready is an error."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = (
                    f"exited with status {code}"
                    if code is not None
                    else f"not ready in {timeout} s"
                )
                msg = f"replica {self.name} ({self.grpc_url}) {why}; its log: {self.log_tail()}"
                raise ServeError(msg)
            time.sleep(0.1)

    def scrape(self, model: str | None, now_s: float) -> Scrape | None:
        """The replica's counters now (None when /metrics does not answer)."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2.0) as answer:
                text = answer.read().decode()
        except (OSError, urllib.error.URLError):
            return None
        queue_us, executions = parse_counters(text, model)
        return Scrape(now_s, queue_us, executions)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGINT), then kill after `timeout` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log.close()


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    """One control step (times in s since start): when it decided, when the change was done
    (a new replica is ready, a leaving one drained and stopped), replicas serving after it,
    the metric, the proportional recommendation and why.
    """

    time_s: float
    applied_s: float
    replicas: int
    queue_ms: float | None
    recommended: int
    reason: str


class Autoscaler:
    """Replicas behind nginx, scaled on queue time. Use as a context manager.

    `scrape()` reads every serving replica's counters (Prometheus' part); `step()` scrapes,
    then decides and applies (KEDA's part). `run_in_thread()` / `stop_thread()` repeat both
    every `interval_s` in two threads, so scrapes go on while a replica starts or drains.
    `events` records every decision; `grpc_url` is where clients connect.
    """

    def __init__(self, options: AutoscaleOptions) -> None:
        self.options = options
        self.replicas: list[Replica] = []
        self.balancer: NginxBalancer | None = None
        self.events: list[ScaleEvent] = []
        self._series: dict[str, list[Scrape]] = {}
        self._state = ScaleState()
        self._count = 0
        #: `time.monotonic()` at start(); event times count from it
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._series_lock = threading.Lock()

    @property
    def grpc_url(self) -> str:
        """'host:port' of the balancer."""
        if self.balancer is None:
            msg = "the autoscaler is not started; call start() first"
            raise ServeError(msg)
        return self.balancer.grpc_url

    def _config(self) -> BalancerConfig:
        return BalancerConfig(
            tuple(r.grpc_url for r in self.replicas),
            grpc_port=self.options.grpc_port,
            host=self.options.host,
        )

    def _launch(self, n: int) -> list[Replica]:
        new = []
        for _ in range(n):
            self._count += 1
            new.append(Replica(self.options, f"replica-{self._count}"))
        try:
            for replica in new:
                replica.wait_ready(self.options.ready_timeout_s)
        except ServeError:
            for replica in new:
                replica.stop()
            raise
        return new

    def start(self) -> None:
        """Start `min_replicas` replicas and nginx in front of them."""
        self.t0 = time.monotonic()
        self.replicas = self._launch(self.options.policy.min_replicas)
        self.balancer = NginxBalancer(self._config())
        self.balancer.start()
        log.info("autoscaler: %d replica(s) behind %s", len(self.replicas), self.grpc_url)

    def scale_to(self, n: int) -> None:
        """Start or drain-and-stop replicas until `n` serve (newest stopped first)."""
        assert self.balancer is not None
        if n > len(self.replicas):
            self.replicas = [*self.replicas, *self._launch(n - len(self.replicas))]
            self.balancer.reload(self._config(), self.options.drain_timeout_s)
        elif n < len(self.replicas):
            leaving = self.replicas[n:]
            self.replicas = self.replicas[:n]
            drained = self.balancer.reload(self._config(), self.options.drain_timeout_s)
            if not drained:
                log.warning(
                    "nginx still had requests in flight after %g s; stopping %s anyway",
                    self.options.drain_timeout_s,
                    ", ".join(r.name for r in leaving),
                )
            for replica in leaving:
                replica.stop()

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def scrape(self) -> None:
        """Append every serving replica's counters now to its series (gone ones age out)."""
        now = self._now()
        samples = [(r.name, r.scrape(self.options.model, now)) for r in list(self.replicas)]
        with self._series_lock:
            for name, sample in samples:
                if sample is not None:
                    self._series.setdefault(name, []).append(sample)
            self._series = prune(self._series, self.options.policy.window_s, now)

    def decide_and_apply(self) -> Decision:
        """Compute the queue time from the series, decide, and start or stop replicas."""
        with self._lock:
            now = self._now()
            policy = self.options.policy
            with self._series_lock:
                metric = queue_time_ms(self._series, policy.window_s, now)
            decision = decide(policy, self._state, len(self.replicas), metric, now)
            self._state = decision.state
            if decision.replicas != len(self.replicas):
                log.info("autoscaler: %s", decision.reason)
                self.scale_to(decision.replicas)
            else:
                log.debug("autoscaler: %s", decision.reason)
            self.events.append(
                ScaleEvent(
                    now,
                    self._now(),
                    len(self.replicas),
                    metric,
                    decision.recommended,
                    decision.reason,
                )
            )
            return decision

    def step(self) -> Decision:
        """One scrape, then one decision."""
        self.scrape()
        return self.decide_and_apply()

    def _loop(self, action: Callable[[], object]) -> None:
        while not self._stop.wait(self.options.interval_s):
            action()

    def run_in_thread(self) -> None:
        """Scrape and decide every `interval_s`, in two background threads."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=(action,), name=name, daemon=True)
            for action, name in (
                (self.scrape, "hepinfer-autoscaler-scrape"),
                (self.decide_and_apply, "hepinfer-autoscaler"),
            )
        ]
        for thread in self._threads:
            thread.start()

    def run(self) -> None:
        """`run_in_thread`, and wait here until `stop_thread` or Ctrl-C."""
        self.run_in_thread()
        while not self._stop.wait(1.0):
            pass

    def stop_thread(self) -> None:
        """End the control loops (after the step in progress)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def stop(self) -> None:
        """Stop the control loop, nginx and every replica."""
        self.stop_thread()
        if self.balancer is not None:
            self.balancer.stop()
            self.balancer = None
        for replica in self.replicas:
            replica.stop()
        self.replicas = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def replica_timeline(events: Sequence[ScaleEvent]) -> list[tuple[float, int]]:
    """(time, replicas) at every change, starting with the first step."""
    out: list[tuple[float, int]] = []
    for e in events:
        if not out or out[-1][1] != e.replicas:
            out.append((e.time_s, e.replicas))
    return out
