"""The io_stream plan: which stream carries each tensor, and the DATAFLOW processes.

A tensor travels as a stream of words, one word per pixel: the values of its last axis at one
position (`hepinfer::packet<T, W>`, like hls4ml's `nnet::array<T, N_CHAN>`), positions in
row-major order. A flat tensor is one word of all its values, except that Flatten and Reshape
pass their input's words through unchanged (so Dense after Flatten reads a stream of pixels);
when they change no type they are no process at all, only a new name for the same stream.

Every layer is one process of the top function's DATAFLOW region. A tensor read by several
layers (or read by a layer and also a model output) goes through a clone process that copies
each word to one stream per reader. A layer that needs the words of its input one pixel wide
(convolution, pooling, per-channel and per-row layers, merges) but gets another width (after a
Reshape) reads through a repack process.

FIFO depths: a stream out of a clone or into a merge holds a whole sample (its number of words,
at least 2),
so a branch that waits on its sibling never blocks the clone (no deadlock, as hls4ml's default
depths); every other stream joins two processes that read in order and has depth 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from hepinfer.errors import HlsError
from hepinfer.hls.layers import Layer, Model, Tensor

CHAIN_DEPTH = 2


def pixel_width(t: Tensor) -> int:
    """Values per word of `t` one pixel per word: its last axis (a flat tensor: all)."""
    return t.shape[-1] if t.shape else 1


@dataclass(frozen=True)
class Stream:
    """One `hls::stream` of the top function: the tensor it carries, word width and depth."""

    var: str
    tensor: Tensor
    word: int
    depth: int

    @property
    def words(self) -> int:
        """Words per sample."""
        return self.tensor.size // self.word

    @property
    def ctype(self) -> str:
        return f"hepinfer::packet<{self.tensor.ctype}, {self.word}>"


@dataclass(frozen=True)
class Process:
    """One DATAFLOW process: a layer, a clone or a repack, with the streams it reads and writes."""

    kind: str
    name: str
    ins: tuple[Stream, ...]
    outs: tuple[Stream, ...]
    layer: Layer | None = None


@dataclass(frozen=True)
class Plan:
    """The io_stream top function: its ports, internal streams and processes in order."""

    inputs: tuple[Stream, ...]
    outputs: tuple[Stream, ...]
    internal: tuple[Stream, ...]
    processes: tuple[Process, ...]


class _Planner:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.outputs = {t.name for t in model.outputs}
        self.uses: dict[str, int] = {}
        for layer in model.layers:
            for t in layer.inputs:
                self.uses[t.name] = self.uses.get(t.name, 0) + 1
        for t in model.outputs:
            self.uses[t.name] = self.uses.get(t.name, 0) + 1
        self.merge_inputs = {
            (layer.index, k)
            for layer in model.layers
            if layer.others
            for k in range(len(layer.inputs))
        }
        self.ready: dict[str, list[Stream]] = {}
        self.ports: dict[str, Stream] = {}
        self.internal: list[Stream] = []
        self.processes: list[Process] = []
        self.names: set[str] = {t.var for t in model.tensors}
        self.names |= {f"{t.var}_stream" for t in (*model.inputs, *model.outputs)}  # the ports

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}{k}", k + 1
        self.names.add(name)
        return name

    def stream(self, base: str, t: Tensor, word: int, depth: int) -> Stream:
        s = Stream(self.fresh(base), t, word, depth)
        self.internal.append(s)
        return s

    def publish(self, t: Tensor, s: Stream) -> None:
        """`s` carries `t` as produced: hand it to the readers, through a clone if several."""
        readers = self.uses.get(t.name, 0) - (t.name in self.outputs)
        if readers + (t.name in self.outputs) <= 1:
            self.ready[t.name] = [s]
            return
        depth = max(s.words, CHAIN_DEPTH)
        copies = [self.stream(f"{t.var}_cpy{k + 1}", t, s.word, depth) for k in range(readers)]
        outs = list(copies)
        if t.name in self.outputs:
            port = Stream(f"{t.var}_stream", t, s.word, depth)
            self.ports[t.name] = port
            outs.append(port)
        self.processes.append(Process("clone", self.fresh(f"{t.var}_clone"), (s,), tuple(outs)))
        self.ready[t.name] = copies

    def read(self, layer: Layer, k: int, t: Tensor) -> Stream:
        s = self.ready[t.name].pop(0)
        merge = (layer.index, k) in self.merge_inputs
        if layer.pixel_input and s.word != pixel_width(t):
            depth = max(s.words, CHAIN_DEPTH) if merge else CHAIN_DEPTH
            r = self.stream(f"{t.var}_pixels", s.tensor, pixel_width(t), depth)
            self.processes.append(Process("repack", self.fresh(f"{t.var}_repack"), (s,), (r,)))
            return r
        if merge and s.depth < s.words and s in self.internal:  # it may wait on the others
            self.internal.remove(s)
            s = Stream(s.var, s.tensor, s.word, max(s.words, CHAIN_DEPTH))
            self.internal.append(s)
        return s

    def passes_through(self, layer: Layer) -> bool:
        """A copy that changes neither type nor words needs no process (as in hls4ml)."""
        src, dst = layer.src, layer.dst
        return layer.kernel == "copy" and src.fixed == dst.fixed and dst.name not in self.outputs

    def run(self) -> Plan:
        inputs = []
        for t in self.model.inputs:
            if t.name in self.outputs:
                msg = f"input {t.name!r} is also a model output; the io_stream writer needs a layer between"
                raise HlsError(msg)
            port = Stream(f"{t.var}_stream", t, pixel_width(t), 1)
            inputs.append(port)
            self.publish(t, port)
        for layer in self.model.layers:
            ins = tuple(self.read(layer, k, t) for k, t in enumerate(layer.inputs))
            dst = layer.dst
            if self.passes_through(layer):  # Flatten / Reshape: the words flow on unchanged
                self.publish(dst, ins[0])
                continue
            word = ins[0].word if layer.same_width else pixel_width(dst)
            if dst.name in self.outputs and self.uses[dst.name] == 1:
                out = Stream(f"{dst.var}_stream", dst, word, 1)
                self.ports[dst.name] = out
            else:
                out = self.stream(f"{dst.var}_stream", dst, word, CHAIN_DEPTH)
            self.processes.append(
                Process("layer", self.fresh(f"{dst.var}_process"), ins, (out,), layer)
            )
            self.publish(dst, out)
        outputs = tuple(self.ports[t.name] for t in self.model.outputs)
        # a stream's depth may have grown after a process was recorded: point them at the final streams
        final = {s.var: s for s in (*self.internal, *inputs, *outputs)}
        processes = tuple(
            Process(
                p.kind,
                p.name,
                tuple(final[s.var] for s in p.ins),
                tuple(final[s.var] for s in p.outs),
                p.layer,
            )
            for p in self.processes
        )
        return Plan(tuple(inputs), outputs, tuple(self.internal), processes)


#: kernels written for io_parallel only, with the reason
PARALLEL_ONLY = {
    "garnet": "hls4ml 1.3's GarNet kernel is io_parallel only (its vertex loops read whole arrays)"
}


def plan(model: Model) -> Plan:
    """The io_stream plan of `model`."""
    for layer in model.layers:
        if layer.kernel in PARALLEL_ONLY:
            msg = (
                f"node {layer.name!r} ({layer.op}) has no io_stream kernel: "
                f"{PARALLEL_ONLY[layer.kernel]}; use IOType io_parallel"
            )
            raise HlsError(msg)
    if len({t.name for t in model.outputs}) != len(model.outputs):
        msg = "a tensor is listed twice among the model outputs; the io_stream writer needs distinct outputs"
        raise HlsError(msg)
    return _Planner(model).run()
