"""ModelStatistics counters summed over versions, and window differences."""

from __future__ import annotations

from tritonclient.grpc import service_pb2 as pb

from hepinfer.protocol.statistics import ModelStatsTotals


def _version(version: str, n: int) -> pb.ModelStatistics:
    st = pb.ModelStatistics(name="m", version=version, inference_count=n, execution_count=n // 2)
    inf = st.inference_stats
    inf.success.count, inf.success.ns = n, 100 * n
    inf.queue.count, inf.queue.ns = n, 10 * n
    inf.compute_input.count, inf.compute_input.ns = n, 1 * n
    inf.compute_infer.count, inf.compute_infer.ns = n, 5 * n
    inf.compute_output.count, inf.compute_output.ns = n, 2 * n
    return st


def test_from_proto_sums_every_version() -> None:
    response = pb.ModelStatisticsResponse(model_stats=[_version("1", 4), _version("2", 6)])
    t = ModelStatsTotals.from_proto(response)
    assert (t.success_count, t.success_ns) == (10, 1000)
    assert (t.inference_count, t.execution_count) == (10, 5)
    assert (t.queue_count, t.queue_ns) == (10, 100)
    assert (t.input_ns, t.infer_ns, t.output_ns) == (10, 50, 20)
    assert t.compute_ns == 80


def test_window_difference_and_sum() -> None:
    before = ModelStatsTotals.from_proto(pb.ModelStatisticsResponse(model_stats=[_version("1", 4)]))
    after = ModelStatsTotals.from_proto(pb.ModelStatisticsResponse(model_stats=[_version("1", 9)]))
    window = after - before
    assert window.queue_count == 5
    assert window.infer_ns == 25
    assert window + before == after
    assert ModelStatsTotals.from_proto(pb.ModelStatisticsResponse()) == ModelStatsTotals()
