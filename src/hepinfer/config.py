"""Typed compile configuration, at hls4ml's three levels: model, op type, layer name.

Two starting points:

- **hepinfer's default** (`Config()`, what `hepinfer.compile(model)` uses without a
  configuration): 16-bit types that never wrap. Weights and biases are 16 bits with the
  integer bits their largest value needs (`auto`), accumulators are exact (`auto`: sums never
  overflow or lose bits), every result (layer outputs, and the input) is
  `ap_fixed<16,6,AP_RND,AP_SAT>` (rounded, saturating instead of wrapping), and BatchNorm is
  folded into the Dense/Conv before it. On the example jet taggers this keeps the float
  model's decision (argmax) on >= 99 % of standard-normal inputs, where hls4ml's default
  below gives 94-98.5 % (its 16-bit accumulators and results wrap on large values).
- **hls4ml's meaning** (`Config.hls4ml()`, and any dict/YAML configuration, e.g.
  `{"Model": {"Precision": "ap_fixed<16,6>"}}`, or `config_from_model`): a precision given
  at a level applies to every variable (result, accum, weight, bias) exactly as written, with
  WRAP/TRN unless stated, and BatchNorm is folded only into layers whose result is `auto`.
  This is bit-exact with hls4ml's C simulation for the same configuration.

`Config.default(precision)` gives hepinfer's meaning for another precision. With more than 10
fractional bits the table activations follow it too (hls4ml's 1,024-entry `ap_fixed<18,8>`
tables would otherwise limit the output to ~1e-2): `Config.default("ap_fixed<32,16>")` matches
the float model within 1e-3 on every example model, where hls4ml's meaning of
`ap_fixed<32,16>` does not (each product truncated to the 16 fractional bits of a 32-bit
accumulator biases sums by up to n_in * 2**-16, and the tables step by 1/64 or coarser).

A precision variable of a node (`result`, `accum`, `weight`, `bias`, `table`) is looked up
like hls4ml does: layer name (variable, then `default`), op type (variable, then `default`),
model (variable, then `default`). A value is a fixed-point type or `auto`: with hls4ml's
semantics hls4ml 1.3's own inference (`hepinfer.ops.hls4ml_auto`), with hepinfer's (or
`Auto: hepinfer`) inferred by `hepinfer.passes.apply_config` from the weights, value ranges
and calibration data.
Table types and the Softmax accumulator do not fall back to `default`: unless set, they take
hls4ml's defaults (`ap_fixed<18,8,AP_RND,AP_SAT>` tables).

Dict/YAML form (the hls4ml spelling)::

    Model:
      Precision: {default: ap_fixed<16,6>}    # or a single type string
      ReuseFactor: 1
      Strategy: Latency
    IOType: io_parallel
    LayerType:
      Dense: {Precision: {accum: ap_fixed<24,12>}}
    LayerName:
      fc1: {Precision: {weight: ap_fixed<8,2>, result: ap_fixed<12,4>}, ReuseFactor: 4}
      conv1: {ParallelizationFactor: 4}   # Conv1D/2D: output positions at once
      output_softmax_softmax: {Implementation: stable, TableSize: 1024}
    FoldBatchNorm: true    # optional: always / never (false) fold; unset: hls4ml's rule
    SoftmaxInput: ap_fixed<24,8,AP_RND,AP_SAT>   # optional: result type of softmax inputs
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from hepinfer import config_keys as keys
from hepinfer.errors import ConfigError, HepinferError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.ir.op import Op
from hepinfer.knobs import IOType, Strategy

__all__ = [
    "AUTO",
    "DEFAULT_PRECISION",
    "DEFAULT_RESULT",
    "SEMANTICS",
    "VARIABLES",
    "Config",
    "IOType",
    "LevelConfig",
    "Precision",
    "Semantics",
    "Strategy",
    "TypeSpec",
    "default_model",
    "hls4ml_model",
    "parse_type",
]

AUTO: Literal["auto"] = "auto"
TypeSpec = FixedType | Literal["auto"]
VARIABLES = ("result", "accum", "weight", "bias", "table", "recurrent_weight", "recurrent_bias")
_NO_DEFAULT_FALLBACK = ("table",)
DEFAULT_PRECISION = "ap_fixed<16,6>"
#: the result type of hepinfer's default configuration (see the module docstring)
DEFAULT_RESULT = "ap_fixed<16,6,AP_RND,AP_SAT>"
#: what a precision string means (module docstring): `hepinfer` expands a model-level type
#: like `Config.default`, `hls4ml` applies it to every variable as written
Semantics = Literal["hepinfer", "hls4ml"]
SEMANTICS: tuple[Semantics, ...] = ("hepinfer", "hls4ml")
_log = logging.getLogger("hepinfer.config")
_OP_TYPES = frozenset(op.value.lower() for op in Op)


def _note(notes: list[str] | None, where: str, key: str, value: object, reason: str) -> None:
    """Record (and log) that an hls4ml key has no effect here: INFO when its value is the one
    hls4ml writes by default (nothing lost), WARNING when it asks for something hepinfer does
    not do.
    """
    text = f"{where}.{key} = {value!r} has no effect in hepinfer: {reason}"
    if isinstance(value, bool) or value is None:
        harmless = not value
    elif isinstance(value, int | float):
        harmless = value in (0, 1) or value >= 1e9
    else:
        harmless = str(value) in ("", "auto", "LineBuffer", "Vivado", "Vitis")
    _log.log(logging.INFO if harmless else logging.WARNING, "%s", text)
    if notes is not None:
        notes.append(text)


def parse_type(value: object, where: str) -> TypeSpec:
    """A fixed-point type or 'auto' from a string (or a FixedType)."""
    if isinstance(value, FixedType):
        return value
    text = str(value).strip()
    if text.lower() == AUTO:
        return AUTO
    try:
        return FixedType.parse(text)
    except (HepinferError, ValueError) as exc:
        msg = f"{where}: {value!r} is not a fixed-point type or 'auto' ({exc}); write e.g. ap_fixed<16,6>"
        raise ConfigError(msg) from exc


@dataclass(frozen=True)
class Precision:
    """Precision settings of one level; None means 'not set here'."""

    default: TypeSpec | None = None
    result: TypeSpec | None = None
    accum: TypeSpec | None = None
    weight: TypeSpec | None = None
    bias: TypeSpec | None = None
    table: TypeSpec | None = None
    #: recurrent layers' (LSTM, GRU, SimpleRNN) recurrent kernel and recurrent bias, hls4ml's
    #: `recurrent_weight_t` / `recurrent_bias_t` (looked up like any variable: they do not
    #: fall back to `weight` / `bias`, only to `default`)
    recurrent_weight: TypeSpec | None = None
    recurrent_bias: TypeSpec | None = None
    #: hls4ml's separable-convolution variables (`depthwise`, `pointwise_accum`, ...): they
    #: become the `weight` / `accum` / `result` of the depthwise or pointwise part (`part`);
    #: also a Bidirectional layer's `forward_weight`, `backward_bias`, ... (`half`)
    separable: tuple[tuple[str, TypeSpec], ...] = ()

    @classmethod
    def from_dict(cls, data: object, where: str, notes: list[str] | None = None) -> Precision:
        """hls4ml's `Precision` entry: a type string, or a mapping by variable. hls4ml's other
        names are applied (`scale` is the BatchNorm `weight`; Softmax's `exp_table`,
        `inv_table` and `inv_inp` are hepinfer's single `table` type, so they must agree);
        variables of layers hepinfer lacks (`config_keys.NO_EFFECT_PRECISIONS`) are noted.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            return cls(default=parse_type(data, where))
        known = {"default", *VARIABLES}
        values: dict[str, TypeSpec] = {}
        origin: dict[str, str] = {}
        unknown = []
        separable: list[tuple[str, TypeSpec]] = []
        for key, value in data.items():
            name = keys.PRECISION_ALIASES.get(str(key), str(key))
            if name in SEPARABLE_PRECISIONS or name in BIDIRECTIONAL_PRECISIONS:
                if value is not None:
                    separable.append((name, parse_type(value, f"{where}.{key}")))
                continue
            if name in keys.NO_EFFECT_PRECISIONS and name not in known:
                _note(notes, where, name, value, keys.NO_EFFECT_PRECISIONS[name])
                continue
            if name not in known:
                unknown.append(str(key))
                continue
            if value is None:
                continue
            t = parse_type(value, f"{where}.{key}")
            if name in values and values[name] != t:
                msg = (
                    f"{where}: {origin[name]} = {values[name]} and {key} = {t} differ, but "
                    f"hepinfer's Softmax uses one type for hls4ml's table, exp_table, inv_table "
                    f"and inv_inp; give them the same type"
                )
                raise ConfigError(msg)
            values[name], origin[name] = t, str(key)
        if unknown:
            allowed = [*known, *keys.PRECISION_ALIASES, *keys.NO_EFFECT_PRECISIONS]
            hints = "".join(keys.suggest(u, allowed) for u in unknown)
            msg = (
                f"{where}: unknown precision variable(s) {sorted(unknown)}{hints}; use default, "
                f"{', '.join(VARIABLES)} (or hls4ml's {', '.join(keys.PRECISION_ALIASES)})"
            )
            raise ConfigError(msg)
        return cls(**values, separable=tuple(separable))

    def to_dict(self) -> dict[str, str]:
        out = {
            f.name: str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "separable" and getattr(self, f.name) is not None
        }
        return out | {k: str(v) for k, v in self.separable}

    def part(self, role: str) -> Precision:
        """The precision hls4ml 1.3 gives the `role` ("depthwise" or "pointwise") part of a
        separable convolution: this level's variables, with `<role>` as the weight,
        `<role>_accum` as the accumulator and `<role>_result` as the result
        (hls4ml's `SeparableToDepthwiseAndConv`).
        """
        renamed = {"": "weight", "_accum": "accum", "_result": "result"}
        values = {renamed[k[len(role) :]]: v for k, v in self.separable if k.startswith(role)}
        return dataclasses.replace(self, separable=(), **values)

    def half(self, direction: str) -> Precision:
        """The precision hls4ml 1.3 gives the `direction` ("forward" or "backward") half of a
        Bidirectional layer: this level's variables, with `<direction>_weight`,
        `<direction>_bias`, `<direction>_recurrent_weight` and `<direction>_recurrent_bias`
        as the weight, bias, recurrent weight and recurrent bias types (its `weight`, `bias`,
        `recurrent_weight` and `recurrent_bias` do not reach the halves).
        """
        own = dict(self.separable)
        return dataclasses.replace(
            self,
            separable=(),
            **{v: own.get(f"{direction}_{v}") for v in BIDIRECTIONAL_WEIGHTS},
        )

    def get(self, var: str, fallback: bool = True) -> TypeSpec | None:
        value: TypeSpec | None = getattr(self, var)
        if value is None and fallback:
            return self.default
        return value


#: hls4ml's precision variables of a SeparableConv1D/2D layer (see `Precision.part`)
SEPARABLE_PRECISIONS = (
    "depthwise",
    "depthwise_accum",
    "depthwise_result",
    "pointwise",
    "pointwise_accum",
    "pointwise_result",
)
#: the name suffixes of a separable convolution's parts (hls4ml's `<name>_depthwise`, ...)
SEPARABLE_PARTS = ("depthwise", "pointwise")
#: the name suffixes of a Bidirectional layer's recurrent halves, and their op types
BIDIRECTIONAL_HALVES = ("forward", "backward")
RECURRENT_TYPES = frozenset({"lstm", "gru", "simplernn"})
#: the weight types of a recurrent layer (each half of a Bidirectional layer has its own)
BIDIRECTIONAL_WEIGHTS = ("weight", "bias", "recurrent_weight", "recurrent_bias")
#: hls4ml's precision variables of a Bidirectional layer's halves (see `Precision.half`)
BIDIRECTIONAL_PRECISIONS = tuple(
    f"{h}_{v}" for h in BIDIRECTIONAL_HALVES for v in BIDIRECTIONAL_WEIGHTS
)


@dataclass(frozen=True)
class LevelConfig:
    """Settings of one level (model, an op type or a layer)."""

    precision: Precision = field(default_factory=Precision)
    reuse_factor: int | None = None
    strategy: Strategy | None = None
    implementation: str | None = None
    table_size: int | None = None
    #: LayerNormalization: its inverse-square-root table spans 2**-table_range_power2
    table_range_power2: int | None = None
    #: Conv1D/Conv2D: output positions computed at once (hls4ml's ParallelizationFactor;
    #: `hepinfer.ops.parallelization`)
    parallelization_factor: int | None = None

    def __post_init__(self) -> None:
        if self.reuse_factor is not None and self.reuse_factor < 1:
            msg = f"ReuseFactor {self.reuse_factor} must be a positive integer"
            raise ConfigError(msg)
        if self.parallelization_factor is not None and self.parallelization_factor < 1:
            msg = (
                f"ParallelizationFactor {self.parallelization_factor} must be a positive "
                "integer: the output positions of a convolution computed at once (1: one at "
                "a time, hls4ml's default)"
            )
            raise ConfigError(msg)
        if self.table_size is not None and (
            self.table_size < 2 or self.table_size & (self.table_size - 1)
        ):
            msg = f"TableSize {self.table_size} must be a power of two >= 2"
            raise ConfigError(msg)
        if self.implementation is not None and self.implementation not in (
            "latency",
            "stable",
            "argmax",
        ):
            msg = f"Implementation {self.implementation!r} must be latency, stable or argmax"
            raise ConfigError(msg)

    @classmethod
    def from_dict(cls, data: object, where: str, notes: list[str] | None = None) -> LevelConfig:
        """One level of an hls4ml configuration. Keys are matched as hls4ml does (CamelCase or
        snake_case: `TableSize` = `table_size`); keys hls4ml reads that change nothing here
        (`config_keys.NO_EFFECT`, e.g. `Trace`, `BramFactor`) are noted; others are errors.
        """
        if not isinstance(data, Mapping):
            msg = f"{where}: {data!r} must be a mapping of settings (Precision, ReuseFactor, ...)"
            raise ConfigError(msg)
        found: dict[str, Any] = {}
        unknown = []
        for key, value in data.items():
            name = keys.snake(str(key))
            if name in keys.APPLIED:
                found[name] = value
            elif name in keys.NO_EFFECT:
                _note(notes, where, str(key), value, keys.NO_EFFECT[name])
            else:
                unknown.append(str(key))
        if unknown:
            camel = [
                "Precision",
                "ReuseFactor",
                "Strategy",
                "Implementation",
                "TableSize",
                "TableRangePower2",
                "ParallelizationFactor",
            ]
            allowed = camel + ["".join(p.title() for p in k.split("_")) for k in keys.NO_EFFECT]
            hints = "".join(keys.suggest(u, allowed) for u in unknown)
            msg = f"{where}: unknown key(s) {sorted(unknown)}{hints}; known: {sorted(camel)}"
            raise ConfigError(msg)
        strategy = found.get("strategy")
        impl = found.get("implementation")
        return cls(
            precision=Precision.from_dict(found.get("precision"), f"{where}.Precision", notes),
            reuse_factor=_int(found.get("reuse_factor"), f"{where}.ReuseFactor"),
            strategy=None if strategy is None else Strategy.parse(strategy, f"{where}.Strategy"),
            implementation=None if impl is None else str(impl).lower(),
            table_size=_int(found.get("table_size"), f"{where}.TableSize"),
            table_range_power2=_int(found.get("table_range_power2"), f"{where}.TableRangePower2"),
            parallelization_factor=_int(
                found.get("parallelization_factor"), f"{where}.ParallelizationFactor"
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        prec = self.precision.to_dict()
        if prec:
            out["Precision"] = prec
        if self.reuse_factor is not None:
            out["ReuseFactor"] = self.reuse_factor
        if self.strategy is not None:
            out["Strategy"] = self.strategy.value
        if self.implementation is not None:
            out["Implementation"] = self.implementation
        if self.table_size is not None:
            out["TableSize"] = self.table_size
        if self.table_range_power2 is not None:
            out["TableRangePower2"] = self.table_range_power2
        if self.parallelization_factor is not None:
            out["ParallelizationFactor"] = self.parallelization_factor
        return out


def hls4ml_model(precision: str | FixedType = DEFAULT_PRECISION) -> LevelConfig:
    """hls4ml's model level: one type for every variable, reuse factor 1, Latency."""
    prec = precision if isinstance(precision, FixedType) else FixedType.parse(precision)
    return LevelConfig(Precision(default=prec), reuse_factor=1, strategy=Strategy.LATENCY)


def default_model(precision: str | FixedType = DEFAULT_PRECISION) -> LevelConfig:
    """Hepinfer's default model level (module docstring): results `precision`, rounded and
    saturating; weights/biases of its width sized to their range; exact accumulators.
    """
    p = precision if isinstance(precision, FixedType) else FixedType.parse(precision)
    return LevelConfig(
        Precision(
            default=p,
            result=FixedType(p.width, p.integer, p.signed, Quant.RND, Overflow.SAT),
            accum=AUTO,
            weight=AUTO,
            bias=AUTO,
            recurrent_weight=AUTO,
            recurrent_bias=AUTO,
        ),
        reuse_factor=1,
        strategy=Strategy.LATENCY,
    )


#: fractional bits hls4ml's default tables resolve (ap_fixed<18,8>: 10); finer precisions
#: get tables that follow them in `Config.default`
_TABLE_FRAC = 10


def _precise_tables(frac: int) -> tuple[dict[str, LevelConfig], FixedType]:
    """Table settings for `frac` fractional bits (> 10) and the softmax input type.

    Sigmoid/TanH tables step by 16/N and 8/N over their input: N = 2**(frac-2) (at most
    2**16) keeps the step below 2**-10, table values get `frac` fractional bits. The stable
    softmax indexes its exp table by the top log2(N) bits of max(x) - x, so its input keeps 8
    integer bits (|logits| < 128), saturating, and N = 2**(frac+1) (at most 2**18) resolves
    differences of 2**7/N; its table type holds sums up to 8 with frac+2 fractional bits.
    """
    lut = FixedType(frac + 2, 2, True, Quant.RND, Overflow.SAT)
    lut_size = 1 << min(frac - 2, 16)
    types = {
        "Softmax": LevelConfig(
            Precision(table=FixedType(frac + 6, 4, True, Quant.RND, Overflow.SAT)),
            table_size=1 << min(frac + 1, 18),
        ),
        "Sigmoid": LevelConfig(Precision(table=lut), table_size=lut_size),
        "TanH": LevelConfig(Precision(table=lut), table_size=lut_size),
    }
    return types, FixedType(frac + 8, 8, True, Quant.RND, Overflow.SAT)


@dataclass(frozen=True)
class Config:
    """A complete compile configuration (immutable; build variants with `replace`).

    `Config()` is hepinfer's default and `Config.hls4ml()` hls4ml's (module docstring).
    `fold_batchnorm`: True folds every BatchNorm that follows a Dense/Conv into it, False
    none, None follows hls4ml (only into layers whose result type is `auto`).
    `softmax_input`: the result type of every layer read only by Softmax layers (unless its
    layer-name level sets the result), None: no such rule (hls4ml).
    """

    model: LevelConfig = field(default_factory=default_model)
    layer_type: Mapping[str, LevelConfig] = field(default_factory=dict)
    layer_name: Mapping[str, LevelConfig] = field(default_factory=dict)
    io_type: IOType = IOType.PARALLEL
    part: str = "xcu250-figd2104-2L-e"
    clock_period: float = 5.0
    fold_batchnorm: bool | None = True
    softmax_input: FixedType | None = None
    semantics: Semantics = "hepinfer"
    #: which rule `auto` types follow: "hls4ml" (hls4ml 1.3's InferPrecisionTypes, bit-exact
    #: with its configurations), "hepinfer" (range-based, never flattens a softmax), None:
    #: the semantics' own (YAML key `Auto`)
    auto: Semantics | None = None
    #: what was accepted without effect (hls4ml keys hepinfer does not use), one line each
    notes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def default(cls, precision: str | FixedType = DEFAULT_PRECISION, **changes: Any) -> Config:
        """Hepinfer's meaning of `precision` everywhere (module docstring): results of that
        type, rounded and saturating; weights/biases of its width sized to their range;
        exact accumulators; BatchNorm folded. With more than 10 fractional bits the table
        activations follow the precision (`_precise_tables`): larger, finer tables and a
        softmax input with 8 integer bits, so e.g. `Config.default("ap_fixed<32,16>")`
        tracks the float model within 1e-3.
        """
        model = default_model(precision)
        frac = model.precision.default.frac  # type: ignore[union-attr]
        if frac <= _TABLE_FRAC:
            return cls(model=model, **changes)
        types, softmax_input = _precise_tables(frac)
        return cls(model=model, layer_type=types, softmax_input=softmax_input, **changes)

    @classmethod
    def hls4ml(cls, precision: str | FixedType = DEFAULT_PRECISION, **changes: Any) -> Config:
        """hls4ml's model-level configuration: `precision` for every variable, WRAP/TRN as
        written, BatchNorm folded only into `auto` results (bit-exact with hls4ml).
        """
        changes.setdefault("semantics", "hls4ml")
        return cls(model=hls4ml_model(precision), fold_batchnorm=None, **changes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_type", MappingProxyType(dict(self.layer_type)))
        object.__setattr__(self, "layer_name", MappingProxyType(dict(self.layer_name)))
        if self.model.precision.default is None:
            msg = "the model level needs a default precision (Model.Precision.default)"
            raise ConfigError(msg)
        if self.semantics not in SEMANTICS:
            msg = f"semantics {self.semantics!r} must be 'hepinfer' or 'hls4ml'"
            raise ConfigError(msg)
        if self.auto is not None and self.auto not in SEMANTICS:
            msg = f"auto {self.auto!r} must be 'hepinfer', 'hls4ml' or None (the semantics')"
            raise ConfigError(msg)

    @property
    def auto_rule(self) -> Semantics:
        """The rule `auto` types follow: `auto` when set, else the semantics."""
        return self.auto or self.semantics

    def describe(self) -> str:
        """One line: the semantics and the model-level types it gave, e.g. for tables."""
        p = self.model.precision
        types = ", ".join(f"{v} {p.get(v)}" for v in ("result", "accum", "weight", "bias"))
        meaning = {
            "hepinfer": "hepinfer's meaning: rounded, saturating results; weights sized to "
            "their range; exact accumulators",
            "hls4ml": "hls4ml's meaning: every variable as written",
        }[self.semantics]
        return f"semantics: {self.semantics} ({meaning}); model level: {types}"

    def check_layers(self, layers: Mapping[str, Sequence[str]]) -> list[str]:
        """Check the LayerName / LayerType entries against a model's layers (name -> the op
        type names it answers to). A name or type the model lacks is a ConfigError listing
        the model's names/types with the closest match, except a type that is another hls4ml
        layer class (a generic configuration): that is returned as a note.
        """
        names = {n.lower(): n for n in layers}
        for key in self.layer_name:
            # hls4ml names the linear activation it splits off a layer `<layer>_linear`
            # (QKeras layers write activation='linear'); hepinfer adds no node for it
            linear = key.lower().endswith("_linear") and key.lower()[: -len("_linear")] in names
            if key.lower() not in names and not linear:
                msg = (
                    f"LayerName {key!r} is not a layer of this model"
                    f"{keys.suggest(key, list(layers))}; its layers: {', '.join(layers)}"
                )
                raise ConfigError(msg)
        types = {t.lower(): t for ts in layers.values() for t in ts if t}
        notes = []
        for key in self.layer_type:
            if key.lower() in types:
                continue
            if key in keys.HLS4ML_LAYER_CLASSES or key.lower() in _OP_TYPES:
                notes.append(f"LayerType {key!r}: this model has no such layer; entry unused")
                _log.info("%s", notes[-1])
                continue
            msg = (
                f"LayerType {key!r} is neither a layer type of this model nor an hls4ml layer "
                f"class or hepinfer op type{keys.suggest(key, list(types.values()))}; this model's types: "
                f"{', '.join(sorted(set(types.values())))}"
            )
            raise ConfigError(msg)
        return notes

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def _named(self, name: str) -> LevelConfig | None:
        """The LayerName level of `name` (hls4ml matches names case-insensitively)."""
        named = self.layer_name.get(name)
        if named is None:
            low = name.lower()
            named = next((v for k, v in self.layer_name.items() if k.lower() == low), None)
        return named

    def _bidirectional_half(self, name: str) -> LevelConfig | None:
        """A Bidirectional layer's recurrent half `<layer>_forward` / `<layer>_backward`: the
        layer's settings, as hls4ml 1.3 gives its one Bidirectional layer, with its
        `<half>_weight` / `<half>_bias` types as the weight and bias (`Precision.half`).
        """
        for half in BIDIRECTIONAL_HALVES:
            if name.lower().endswith(f"_{half}"):
                whole = self._named(name[: -len(half) - 1])
                if whole is not None:
                    return dataclasses.replace(whole, precision=whole.precision.half(half))
        return None

    def _levels(self, name: str, op_type: str | Sequence[str]) -> list[LevelConfig]:
        types = {op_type.lower()} if isinstance(op_type, str) else {t.lower() for t in op_type}
        levels = []
        named = self._named(name)
        for role in SEPARABLE_PARTS:  # a separable convolution's part: its layer's settings
            if named is None and name.lower().endswith(f"_{role}"):
                whole = self._named(name[: -len(role) - 1])
                if whole is not None:
                    named = dataclasses.replace(whole, precision=whole.precision.part(role))
        if named is None and types & RECURRENT_TYPES:
            named = self._bidirectional_half(name)
        if named is not None:
            levels.append(named)
        levels += [level for key, level in self.layer_type.items() if key.lower() in types]
        levels.append(self.model)
        return levels

    def precision(self, name: str, op_type: str | Sequence[str], var: str) -> TypeSpec | None:
        """The type of variable `var` of layer `name` (op type `op_type`), hls4ml's lookup.

        Returns None for table types (and Softmax accumulators) that no level sets.
        """
        levels = self._levels(name, op_type)
        softmax = any(
            t.lower() == "softmax" for t in ([op_type] if isinstance(op_type, str) else op_type)
        )
        garnet = any(
            t.lower() in ("garnet", "garnetstack")
            for t in ([op_type] if isinstance(op_type, str) else op_type)
        )
        strict = var in _NO_DEFAULT_FALLBACK or (var == "accum" and (softmax or garnet))
        for level in levels:
            value = level.precision.get(var, fallback=False)
            if value is not None:
                return value
            if not strict and level is not self.model and level.precision.default is not None:
                return level.precision.default
        if strict:
            return None
        return self.model.precision.get(var)

    def setting(self, name: str, op_type: str | Sequence[str], attr: str) -> Any:
        """A non-precision setting (reuse_factor, strategy, implementation, table_size)."""
        for level in self._levels(name, op_type):
            value = getattr(level, attr)
            if value is not None:
                return value
        return None

    def parallelization_factor(self, name: str, op_type: str | Sequence[str]) -> int | None:
        """A convolution's ParallelizationFactor, looked up as hls4ml 1.3 does: the layer
        name's value, else the op type's; the model level's only when neither a LayerName nor
        a LayerType entry exists for the layer (hls4ml's `get_layer_config_value` stops at
        the first entry it finds, and its attribute merges only the type and name levels).
        """
        levels = self._levels(name, op_type)[:-1]  # name, then op types (model last)
        for level in levels:
            if level.parallelization_factor is not None:
                return level.parallelization_factor
        return None if levels else self.model.parallelization_factor

    # ------------------------------------------------------------------ dict / YAML
    @classmethod
    def from_dict(cls, data: object) -> Config:
        """Build from the hls4ml-style dict (keys Model, LayerType, LayerName, IOType, ...)."""
        if not isinstance(data, Mapping):
            msg = f"a configuration must be a mapping, got {type(data).__name__}"
            raise ConfigError(msg)
        data = dict(data)
        hls_config = data.pop("HLSConfig", None)  # an `hls4ml convert` YAML: HLSConfig nested
        if hls_config is not None:
            if not isinstance(hls_config, Mapping):
                msg = (
                    f"HLSConfig must be a mapping (Model, LayerType, LayerName), got {hls_config!r}"
                )
                raise ConfigError(msg)
            data = {**dict(hls_config), **data}
        known = {
            "Model",
            "LayerType",
            "LayerName",
            "IOType",
            "Part",
            "ClockPeriod",
            "FoldBatchNorm",
            "SoftmaxInput",
            "Semantics",
            "Auto",
        }
        notes: list[str] = []
        for key in [k for k in data if k in keys.TOP_NO_EFFECT]:
            _note(notes, "config", key, data.pop(key), keys.TOP_NO_EFFECT[key])
        for key in [k for k in keys.CONVERT_KEYS if k in data]:  # read by `hepinfer convert`
            notes.append(
                f"config.{key} = {data.pop(key)!r}: read by `hepinfer convert`; "
                "compile/estimate/hls use the model they are given"
            )
            _log.info("%s", notes[-1])
        unknown = set(data) - known
        if unknown:
            allowed = [*known, "HLSConfig", *keys.TOP_NO_EFFECT, *keys.CONVERT_KEYS]
            hints = "".join(keys.suggest(str(u), allowed) for u in sorted(unknown))
            msg = (
                f"unknown top-level configuration key(s) {sorted(unknown)}{hints}; "
                f"known: {sorted(known)}"
            )
            raise ConfigError(msg)
        semantics = str(data.get("Semantics", "hls4ml")).lower()
        if semantics not in SEMANTICS:
            msg = f"Semantics: {data['Semantics']!r} must be 'hls4ml' or 'hepinfer'"
            raise ConfigError(msg)
        auto = str(data["Auto"]).lower() if data.get("Auto") is not None else None
        if auto is not None and auto not in SEMANTICS:
            msg = (
                f"Auto: {data['Auto']!r} must be 'hls4ml' or 'hepinfer' (which rule 'auto' follows)"
            )
            raise ConfigError(msg)
        model_data = dict(data.get("Model") or {})
        model = LevelConfig.from_dict(model_data, "Model", notes)
        layer_type = {
            str(k): LevelConfig.from_dict(v or {}, f"LayerType.{k}", notes)
            for k, v in (data.get("LayerType") or {}).items()
        }
        expand = semantics == "hepinfer" and not isinstance(model_data.get("Precision"), Mapping)
        softmax_input = _softmax_input(data.get("SoftmaxInput"))
        if expand:  # hepinfer's meaning of a model-level type string (Config.default)
            wide = cls.default(model.precision.default or DEFAULT_PRECISION)
            model = dataclasses.replace(model, precision=wide.model.precision)
            layer_type = {**wide.layer_type, **layer_type}
            softmax_input = softmax_input or wide.softmax_input
        base = hls4ml_model()
        if model.precision.default is None:
            model = dataclasses.replace(
                model,
                precision=dataclasses.replace(model.precision, default=base.precision.default),
            )
        model = dataclasses.replace(
            model,
            reuse_factor=model.reuse_factor or 1,
            strategy=model.strategy or Strategy.LATENCY,
        )
        fold = _fold(data.get("FoldBatchNorm"))
        return cls(
            model=model,
            layer_type=layer_type,
            layer_name={
                str(k): LevelConfig.from_dict(v or {}, f"LayerName.{k}", notes)
                for k, v in (data.get("LayerName") or {}).items()
            },
            io_type=IOType.parse(data.get("IOType", "io_parallel"), "IOType"),
            part=str(data.get("Part", "xcu250-figd2104-2L-e")),
            clock_period=float(data.get("ClockPeriod", 5.0)),
            fold_batchnorm=True if fold is None and semantics == "hepinfer" else fold,
            softmax_input=softmax_input,
            semantics=semantics,
            auto=auto,
            notes=tuple(notes),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Semantics": self.semantics,
            **({"Auto": self.auto} if self.auto is not None else {}),
            "Model": self.model.to_dict(),
            "IOType": self.io_type.value,
        }
        if self.layer_type:
            out["LayerType"] = {k: v.to_dict() for k, v in self.layer_type.items()}
        if self.layer_name:
            out["LayerName"] = {k: v.to_dict() for k, v in self.layer_name.items()}
        out["Part"] = self.part
        out["ClockPeriod"] = self.clock_period
        if self.fold_batchnorm is not None:
            out["FoldBatchNorm"] = self.fold_batchnorm
        if self.softmax_input is not None:
            out["SoftmaxInput"] = str(self.softmax_input)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a YAML configuration file."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text())
        except OSError as exc:
            msg = f"cannot read configuration {p}: {exc}"
            raise ConfigError(msg) from exc
        except yaml.YAMLError as exc:
            msg = f"configuration {p} is not valid YAML: {exc}"
            raise ConfigError(msg) from exc
        return cls.from_dict(data or {})

    def save(self, path: str | Path) -> Path:
        """Write this configuration as YAML; returns the path."""
        import yaml

        p = Path(path)
        p.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return p


def _int(value: object, where: str) -> int | None:
    if value is None:
        return None
    try:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return int(value)
    except ValueError:
        pass
    msg = f"{where}: {value!r} is not an integer"
    raise ConfigError(msg)


def _fold(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    msg = f"FoldBatchNorm: {value!r} must be true, false or left out (hls4ml's rule)"
    raise ConfigError(msg)


def _softmax_input(value: object) -> FixedType | None:
    if value is None:
        return None
    t = parse_type(value, "SoftmaxInput")
    if not isinstance(t, FixedType):
        msg = (
            "SoftmaxInput: 'auto' is not allowed; give a type such as ap_fixed<24,8,AP_RND,AP_SAT>"
        )
        raise ConfigError(msg)
    return t
