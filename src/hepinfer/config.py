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
model (variable, then `default`). A value is a fixed-point type or `auto` (inferred by
`hepinfer.passes.auto_precision` from the weights, value ranges and calibration data).
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
      output_softmax_softmax: {Implementation: stable, TableSize: 1024}
    FoldBatchNorm: true    # optional: always / never (false) fold; unset: hls4ml's rule
    SoftmaxInput: ap_fixed<24,8,AP_RND,AP_SAT>   # optional: result type of softmax inputs
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from hepinfer.errors import ConfigError, HepinferError
from hepinfer.fixed import FixedType, Overflow, Quant
from hepinfer.knobs import IOType, Strategy

__all__ = [
    "AUTO",
    "DEFAULT_PRECISION",
    "DEFAULT_RESULT",
    "VARIABLES",
    "Config",
    "IOType",
    "LevelConfig",
    "Precision",
    "Strategy",
    "TypeSpec",
    "config_from_model",
    "default_model",
    "hls4ml_model",
    "parse_type",
]

AUTO: Literal["auto"] = "auto"
TypeSpec = FixedType | Literal["auto"]
VARIABLES = ("result", "accum", "weight", "bias", "table")
_NO_DEFAULT_FALLBACK = ("table",)
DEFAULT_PRECISION = "ap_fixed<16,6>"
#: the result type of hepinfer's default configuration (see the module docstring)
DEFAULT_RESULT = "ap_fixed<16,6,AP_RND,AP_SAT>"


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

    @classmethod
    def from_dict(cls, data: object, where: str) -> Precision:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            return cls(default=parse_type(data, where))
        data = {("weight" if k == "scale" else k): v for k, v in data.items()}  # hls4ml's BN name
        unknown = set(data) - {"default", *VARIABLES}
        if unknown:
            msg = f"{where}: unknown precision variable(s) {sorted(unknown)}; use default, {', '.join(VARIABLES)}"
            raise ConfigError(msg)
        return cls(**{k: parse_type(v, f"{where}.{k}") for k, v in data.items() if v is not None})

    def to_dict(self) -> dict[str, str]:
        return {
            f.name: str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def get(self, var: str, fallback: bool = True) -> TypeSpec | None:
        value: TypeSpec | None = getattr(self, var)
        if value is None and fallback:
            return self.default
        return value


@dataclass(frozen=True)
class LevelConfig:
    """Settings of one level (model, an op type or a layer)."""

    precision: Precision = field(default_factory=Precision)
    reuse_factor: int | None = None
    strategy: Strategy | None = None
    implementation: str | None = None
    table_size: int | None = None

    def __post_init__(self) -> None:
        if self.reuse_factor is not None and self.reuse_factor < 1:
            msg = f"ReuseFactor {self.reuse_factor} must be a positive integer"
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
    def from_dict(cls, data: Mapping[str, Any], where: str) -> LevelConfig:
        known = {"Precision", "ReuseFactor", "Strategy", "Implementation", "TableSize", "Trace"}
        unknown = set(data) - known
        if unknown:
            msg = f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}"
            raise ConfigError(msg)
        strategy = data.get("Strategy")
        impl = data.get("Implementation")
        return cls(
            precision=Precision.from_dict(data.get("Precision"), f"{where}.Precision"),
            reuse_factor=None if data.get("ReuseFactor") is None else int(data["ReuseFactor"]),
            strategy=None if strategy is None else Strategy.parse(strategy, f"{where}.Strategy"),
            implementation=None if impl is None else str(impl).lower(),
            table_size=None if data.get("TableSize") is None else int(data["TableSize"]),
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
        return cls(model=hls4ml_model(precision), fold_batchnorm=None, **changes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_type", MappingProxyType(dict(self.layer_type)))
        object.__setattr__(self, "layer_name", MappingProxyType(dict(self.layer_name)))
        if self.model.precision.default is None:
            msg = "the model level needs a default precision (Model.Precision.default)"
            raise ConfigError(msg)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def _levels(self, name: str, op_type: str | Sequence[str]) -> list[LevelConfig]:
        types = {op_type.lower()} if isinstance(op_type, str) else {t.lower() for t in op_type}
        levels = []
        if name in self.layer_name:
            levels.append(self.layer_name[name])
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
        strict = var in _NO_DEFAULT_FALLBACK or (var == "accum" and softmax)
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

    # ------------------------------------------------------------------ dict / YAML
    @classmethod
    def from_dict(cls, data: object) -> Config:
        """Build from the hls4ml-style dict (keys Model, LayerType, LayerName, IOType, ...)."""
        if not isinstance(data, Mapping):
            msg = f"a configuration must be a mapping, got {type(data).__name__}"
            raise ConfigError(msg)
        known = {
            "Model",
            "LayerType",
            "LayerName",
            "IOType",
            "Part",
            "ClockPeriod",
            "FoldBatchNorm",
            "SoftmaxInput",
        }
        unknown = set(data) - known
        if unknown:
            msg = (
                f"unknown top-level configuration key(s) {sorted(unknown)}; known: {sorted(known)}"
            )
            raise ConfigError(msg)
        model_data = dict(data.get("Model") or {})
        model = LevelConfig.from_dict(model_data, "Model")
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
        return cls(
            model=model,
            layer_type={
                k: LevelConfig.from_dict(v or {}, f"LayerType.{k}")
                for k, v in (data.get("LayerType") or {}).items()
            },
            layer_name={
                k: LevelConfig.from_dict(v or {}, f"LayerName.{k}")
                for k, v in (data.get("LayerName") or {}).items()
            },
            io_type=IOType.parse(data.get("IOType", "io_parallel"), "IOType"),
            part=str(data.get("Part", "xcu250-figd2104-2L-e")),
            clock_period=float(data.get("ClockPeriod", 5.0)),
            fold_batchnorm=_fold(data.get("FoldBatchNorm")),
            softmax_input=_softmax_input(data.get("SoftmaxInput")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Model": self.model.to_dict(), "IOType": self.io_type.value}
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


def config_from_model(
    model: Any,
    granularity: str = "model",
    default_precision: str = DEFAULT_PRECISION,
    default_reuse_factor: int = 1,
    input_shape: Sequence[int] | None = None,
) -> Config:
    """A starting configuration for `model` (a model, path or IR graph), like hls4ml's
    `config_from_*_model`: `model` granularity sets only the model level; `type` adds an
    entry per op type; `name` adds an entry per layer with every variable it uses set to
    `auto` (inferred without flattening the output; see `hepinfer.passes.auto_precision`).
    """
    from hepinfer.frontends import load_model
    from hepinfer.ops import spec

    graph = load_model(model, input_shape)
    prec = FixedType.parse(default_precision)
    base = LevelConfig(
        Precision(default=prec), reuse_factor=default_reuse_factor, strategy=Strategy.LATENCY
    )
    gran = granularity.lower()
    if gran == "model":
        return Config(model=base, fold_batchnorm=None)
    if gran == "type":
        types = {
            spec(n.op).hls_name or n.op.value: LevelConfig(Precision(default=prec))
            for n in graph.nodes
        }
        return Config(model=base, layer_type=types, fold_batchnorm=None)
    if gran == "name":
        names = {}
        for n in graph.nodes:
            variables = [v for v in spec(n.op).precisions if v != "table"]
            names[n.name] = LevelConfig(Precision(**dict.fromkeys(variables, AUTO)))
        return Config(model=base, layer_name=names, fold_batchnorm=None)
    msg = f"granularity {granularity!r} must be 'model', 'type' or 'name'"
    raise ConfigError(msg)
