"""Per-model-version statistics in Triton's ModelStatistics format (times in nanoseconds).

Updated only on the event loop thread (the batcher records after each batch), so no locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tritonclient.grpc import service_pb2 as pb


@dataclass(slots=True)
class Duration:
    """A count and a total duration in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def proto(self) -> pb.StatisticDuration:
        return pb.StatisticDuration(count=self.count, ns=self.ns)


@dataclass(slots=True)
class BatchStats:
    """Compute times of the batches of one size."""

    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass(slots=True)
class ModelStats:
    """Counters of one model version, as reported by ModelStatistics and the metrics."""

    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    batches: dict[int, BatchStats] = field(default_factory=dict)
    pending: int = 0

    def record_batch(
        self, size: int, n_requests: int, input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        """One execution of `size` samples from `n_requests` requests."""
        self.execution_count += 1
        self.inference_count += size
        # like Triton, every request of the batch is charged the batch's compute times
        self.compute_input.add(input_ns * n_requests, n_requests)
        self.compute_infer.add(infer_ns * n_requests, n_requests)
        self.compute_output.add(output_ns * n_requests, n_requests)
        stats = self.batches.get(size)
        if stats is None:
            stats = self.batches[size] = BatchStats()
        stats.compute_input.add(input_ns)
        stats.compute_infer.add(infer_ns)
        stats.compute_output.add(output_ns)

    def proto(self) -> pb.ModelStatistics:
        """This version's statistics as the gRPC message."""
        return pb.ModelStatistics(
            name=self.name,
            version=self.version,
            last_inference=self.last_inference_ms,
            inference_count=self.inference_count,
            execution_count=self.execution_count,
            inference_stats=pb.InferStatistics(
                success=self.success.proto(),
                fail=self.fail.proto(),
                queue=self.queue.proto(),
                compute_input=self.compute_input.proto(),
                compute_infer=self.compute_infer.proto(),
                compute_output=self.compute_output.proto(),
                cache_hit=pb.StatisticDuration(),
                cache_miss=pb.StatisticDuration(),
            ),
            batch_stats=[
                pb.InferBatchStatistics(
                    batch_size=size,
                    compute_input=b.compute_input.proto(),
                    compute_infer=b.compute_infer.proto(),
                    compute_output=b.compute_output.proto(),
                )
                for size, b in sorted(self.batches.items())
            ],
        )
