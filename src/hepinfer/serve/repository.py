"""The model repository: Triton's folder layout, version policies, load and unload.

``<repo>/<model>/config.pbtxt`` and ``<repo>/<model>/<version>/model.*``; several
repositories may be served together (model names must then be unique). Loading happens in a
worker thread; a model that fails to load is UNAVAILABLE with the reason, and the server keeps
serving the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from hepinfer.errors import (
    HepinferError,
    ModelNotFoundError,
    ModelUnavailableError,
    ModelVersionNotFoundError,
    ProtocolError,
    ServeError,
    UnsafePathError,
)
from hepinfer.serve.backends.base import Backend, ModelInstance
from hepinfer.serve.backends.ensemble import ENSEMBLE_PLATFORM
from hepinfer.serve.budget import MemoryBudget
from hepinfer.serve.config import load_config, model_path, version_dirs
from hepinfer.serve.devices import Device, GpuBackend, placements, visible_gpus
from hepinfer.serve.ensemble import EnsembleModel, Resolver
from hepinfer.serve.kinds import served_model
from hepinfer.serve.model import ServedModel
from hepinfer.serve.paths import (
    check_model_name,
    make_temp_folder,
    relative_file,
    remove_stale_temp_folders,
)
from hepinfer.serve.warmup import run_warmup

log = logging.getLogger(__name__)

#: reasons of an UNAVAILABLE state that are no failure
_QUIET = ("unloaded", "not loaded", "removed from the repository")


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under `folder` with its size and modification time (poll mode's change test)."""
    out = []
    for path in sorted(folder.rglob("*")):
        with contextlib.suppress(OSError):  # removed while we look: the next poll sees it
            st = path.stat()
            if path.is_file():
                out.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass(frozen=True)
class IndexEntry:
    """One row of RepositoryIndex."""

    name: str
    version: str
    state: str
    reason: str


def select_versions(config: mc.ModelConfig, available: Sequence[int]) -> list[int]:
    """The versions the config's version_policy serves, highest first."""
    ordered = sorted(available, reverse=True)
    policy = config.version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return ordered
    if kind == "specific":
        wanted = sorted(set(policy.specific.versions), reverse=True)
        missing = [v for v in wanted if v not in available]
        if missing:
            msg = (
                f"model {config.name!r}: version_policy asks for versions {missing} which have "
                f"no folder; available: {sorted(available)}"
            )
            raise ServeError(msg)
        return wanted
    n = policy.latest.num_versions if kind == "latest" else 1
    return ordered[: max(n, 1)]


def _labels(model_dir: Path, config: mc.ModelConfig) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in config.output:
        if t.label_filename:
            what = f"model {config.name!r}: label_filename of output {t.name!r}"
            path = relative_file(model_dir, t.label_filename, what)
            if not path.is_file():
                msg = f"model {config.name!r}: label file {path} does not exist"
                raise ServeError(msg)
            out[t.name] = path.read_text().splitlines()
    return out


def load_model(
    model_dir: Path,
    config_override: str | None = None,
    budget: MemoryBudget | None = None,
    resolver: Resolver | None = None,
    strict_config: bool = False,
) -> dict[int, ServedModel]:
    """Load every version the policy selects (blocking: call from a worker thread).

    `config_override` (JSON) is used instead of the folder's ``config.pbtxt``; `resolver`
    finds the other served models (ensemble steps, python-backend BLS calls);
    `strict_config` is Triton's ``--strict-model-config=true`` (no auto-complete).
    """
    config, _, backend = load_config(model_dir, config_override, strict_config)
    available = version_dirs(model_dir)
    versions = select_versions(config, list(available))
    if not versions:
        msg = f"model {config.name!r}: no version folders (e.g. {model_dir}/1/) to load"
        raise ServeError(msg)
    labels = _labels(model_dir, config)
    devices = (
        []
        if config.platform == ENSEMBLE_PLATFORM
        else placements(config, visible_gpus(), isinstance(backend, GpuBackend))
    )
    loaded: dict[int, ServedModel] = {}
    for v in versions:
        if config.platform == ENSEMBLE_PLATFORM:
            loaded[v] = EnsembleModel(config, v, labels, available[v], budget, resolver)
            continue
        path = model_path(model_dir, available[v], config, backend)
        if not path.exists():
            msg = f"model {config.name!r} version {v}: model file {path} does not exist"
            raise ServeError(msg)
        instances: list[ModelInstance] = []
        try:
            for device in devices:
                # one at a time: those loaded before a failure are closed below
                instances.append(_load_instance(backend, path, config, device))  # noqa: PERF401
            run_warmup(config, instances, model_dir)  # READY only once warmed up
            loaded[v] = served_model(config, v, instances, labels, path, budget, resolver)
        except BaseException:
            for instance in instances:
                instance.close()
            raise
    return loaded


def _load_instance(
    backend: Backend, path: Path, config: mc.ModelConfig, device: Device
) -> ModelInstance:
    """One instance of `config`'s model on `device` (`hepinfer.serve.devices`)."""
    if device.kind == "cpu":
        return backend.load(path, config)
    if isinstance(backend, GpuBackend):
        return backend.load_on(path, config, device)
    msg = (
        f"model {config.name!r}: its backend runs on the CPU only, so instance_group kind "
        f"KIND_GPU cannot place an instance on {device}; use kind: KIND_CPU (or KIND_AUTO)"
    )
    raise ServeError(msg)


class ModelRepository:
    """The models of one or more repository folders, and their load state."""

    def __init__(
        self,
        paths: Sequence[Path],
        budget: MemoryBudget | None = None,
        strict_config: bool = False,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.budget = budget or MemoryBudget()
        #: Triton's --strict-model-config=true: configurations are not auto-completed
        self.strict_config = strict_config
        for p in self.paths:
            if not p.is_dir():
                msg = f"model repository {p} is not a folder"
                raise ServeError(msg)
        self._models: dict[str, dict[int, ServedModel]] = {}
        self._state: dict[str, tuple[str, str]] = {}
        self._lock = asyncio.Lock()
        self._temp_folders: dict[str, Path] = {}  # model -> its files sent with a load
        self._fingerprints: dict[str, tuple[tuple[str, int, int], ...]] = {}  # at last load
        for stale in remove_stale_temp_folders():
            log.info("removed %s, left by a server that stopped without cleaning up", stale)

    def scan(self) -> dict[str, Path]:
        """Model name -> folder, over all repositories (hidden folders skipped)."""
        found: dict[str, Path] = {}
        for repo in self.paths:
            for child in sorted(repo.iterdir()):
                if not child.is_dir() or child.name.startswith("."):
                    continue
                if child.name in found:
                    msg = (
                        f"model {child.name!r} is in two repositories ({found[child.name]} and "
                        f"{child}); serve one of them"
                    )
                    raise ServeError(msg)
                found[child.name] = child
        return found

    async def load_all(self, names: Iterable[str] | None = None) -> None:
        """Load every model of the repositories, or those named ('*' for all).

        Failures are recorded (UNAVAILABLE with the reason, and logged), not raised; a name
        that is in no repository is recorded as a failure too.
        """
        found = self.scan()
        wanted = list(found) if names is None or "*" in names else list(dict.fromkeys(names))
        for name in wanted:
            if name not in found:  # --load-model of a model that is in no repository
                where = ", ".join(str(p) for p in self.paths)
                self._set_state(name, "UNAVAILABLE", f"no model folder {name!r} in {where}")
                continue
            with contextlib.suppress(HepinferError):  # recorded as UNAVAILABLE, and logged
                await self.load(name)

    async def poll(self) -> None:
        """Triton's poll mode: load new models, reload changed ones, unload removed ones.

        A model is reloaded when any file of its folder changed (path, size or modification
        time) since it was last loaded; one that failed is retried only once it changes.
        """
        found = self.scan()
        for name, folder in found.items():
            if name in self._temp_folders:
                continue  # loaded with its files by a client: not the folder's
            if self._fingerprints.get(name) != _fingerprint(folder):
                with contextlib.suppress(HepinferError):
                    await self.load(name)
        for name in [n for n in self._state if n not in found and n not in self._temp_folders]:
            async with self._lock:
                old = self._models.pop(name, {})
                self._fingerprints.pop(name, None)
                self._set_state(name, "UNAVAILABLE", "removed from the repository")
                del self._state[name]
                await self._release(old)

    def _set_state(self, name: str, state: str, reason: str = "", detail: str = "") -> None:
        """Record a model's state and log the change with its reason (Triton logs each one)."""
        previous = self._state.get(name)
        self._state[name] = (state, reason)
        if previous == (state, reason):
            return
        was = previous[0] if previous else "UNKNOWN"
        level = logging.WARNING if state == "UNAVAILABLE" and reason not in _QUIET else logging.INFO
        why = reason or detail
        log.log(level, "model %s: %s -> %s%s", name, was, state, f" ({why})" if why else "")

    def failures(self) -> dict[str, str]:
        """Models that failed to load (name -> reason); unloaded on request does not count."""
        return {
            name: reason
            for name, (state, reason) in sorted(self._state.items())
            if state == "UNAVAILABLE" and reason not in _QUIET
        }

    def status_table(self) -> str:
        """Triton's start-up table of models: name, version, status (with the reason)."""
        rows = [("Model", "Version", "Status")]
        for e in self.index():
            if e.state == "UNAVAILABLE" and e.reason == "not loaded":
                continue  # explicit mode: not asked for
            status = f"{e.state}: {e.reason}" if e.reason else e.state
            rows.append((e.name, e.version or "-", status))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

        def line(row: tuple[str, str, str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

        return "\n".join([rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule])

    async def load(
        self, name: str, config: str | None = None, files: dict[str, bytes] | None = None
    ) -> None:
        """(Re)load a model; raises ServeError when it fails (the model is then UNAVAILABLE).

        `config`: a model configuration in JSON that replaces ``config.pbtxt`` for this load
        (Triton's RepositoryModelLoad ``config`` parameter); the next load without it reads
        the folder again. `files` (relative path -> content, e.g. ``"1/model.onnx"``; needs
        `config`) are the model's files, loaded instead of the repository folder's: a model
        can then be loaded that is in no repository.
        """
        check_model_name(name)
        async with self._lock:
            folders = self.scan()
            if files:
                if config is None:
                    msg = (
                        f"failed to load '{name}': model files given without a 'config' "
                        "parameter; send the configuration (JSON) with the files"
                    )
                    raise ProtocolError(msg)
                root = make_temp_folder()
                try:
                    folder = self._override_folder(root, name, files)
                except BaseException:
                    shutil.rmtree(root, ignore_errors=True)
                    raise
            elif name in folders:
                folder = folders[name]
            else:
                msg = f"failed to load '{name}', failed to poll from model repository"
                raise ModelNotFoundError(msg)
            temp = folder.parent if files else None
            if temp is None:
                self._fingerprints[name] = _fingerprint(folder)
            previous = self._state.get(name)
            log.debug(
                "loading model %s from %s%s",
                name,
                folder,
                " with a configuration override" if config is not None else "",
            )
            self._set_state(name, "LOADING")
            loop = asyncio.get_running_loop()
            try:
                loaded = await loop.run_in_executor(
                    None,
                    load_model,
                    folder,
                    config,
                    self.budget,
                    self.get,
                    self.strict_config,
                )
            except Exception as exc:
                if name in self._models and previous is not None:
                    # Triton keeps serving the loaded versions when a reload fails
                    log.warning("reload of model %s failed, old versions kept: %s", name, exc)
                    self._set_state(name, *previous)
                else:
                    self._set_state(name, "UNAVAILABLE", str(exc))
                if temp is not None:
                    shutil.rmtree(temp, ignore_errors=True)
                if isinstance(exc, HepinferError):
                    raise
                msg = f"failed to load '{name}': {exc}"
                raise ServeError(msg) from exc
            old = self._models.get(name, {})
            self._models[name] = loaded
            self._set_state(name, "READY", detail=f"versions {sorted(loaded)}")
            await self._release(old)
            self._forget_files(name)
            if temp is not None:
                self._temp_folders[name] = temp
                self._fingerprints.pop(name, None)

    def _forget_files(self, name: str) -> None:
        """Remove the temporary folder of a client-loaded model that is no longer served."""
        folder = self._temp_folders.pop(name, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _override_folder(root: Path, name: str, files: dict[str, bytes]) -> Path:
        """A private model folder in `root` holding `files` (paths checked to stay inside)."""
        folder = root / check_model_name(name)
        folder.mkdir()
        for rel, data in files.items():
            try:
                target = relative_file(folder, rel, "file parameter")
            except UnsafePathError:
                msg = (
                    f"failed to load '{name}': file parameter 'file:{rel}' leaves the model "
                    "folder; give paths like 'file:1/model.onnx'"
                )
                raise ProtocolError(msg) from None
            if target == folder.resolve() or rel.endswith(("/", "\\")):
                msg = f"failed to load '{name}': file parameter 'file:{rel}' names no file"
                raise ProtocolError(msg)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                msg = f"failed to load '{name}': file parameter 'file:{rel}' names a folder"
                raise ProtocolError(msg)
            target.write_bytes(data)
        return folder

    async def unload(self, name: str) -> None:
        """Unload a model; its queued requests fail, running ones finish."""
        check_model_name(name)
        async with self._lock:
            if name not in self._state and name not in self.scan():
                msg = f"failed to unload '{name}', no version is available"
                raise ModelNotFoundError(msg)
            old = self._models.pop(name, {})
            self._set_state(name, "UNAVAILABLE", "unloaded")
            await self._release(old)
            self._forget_files(name)

    async def _release(self, models: dict[int, ServedModel]) -> None:
        loop = asyncio.get_running_loop()
        for m in models.values():
            await m.finish()  # what it accepted, it answers
            await loop.run_in_executor(None, m.release)

    async def close(self) -> None:
        """Unload everything."""
        for name in list(self._models):
            await self._release(self._models.pop(name))
        for name in list(self._temp_folders):
            self._forget_files(name)

    def get(self, name: str, version: str = "") -> ServedModel:
        """The served model for a request (version "" = the highest loaded)."""
        versions = self._models.get(name)
        if versions is None:
            if name in self._state:
                state, reason = self._state[name]
                msg = f"Request for unknown model: '{name}' has no available versions"
                if reason:
                    msg += f" ({state.lower()}: {reason})"
                raise ModelUnavailableError(msg)
            msg = f"Request for unknown model: '{name}' is not found"
            raise ModelNotFoundError(msg)
        if not version:
            return versions[max(versions)]
        try:
            v = int(version)
        except ValueError:
            msg = f"model '{name}': version {version!r} is not an integer"
            raise ProtocolError(msg) from None
        model = versions.get(v)
        if model is None:
            msg = (
                f"Request for unknown model: '{name}' version {version} is not found; "
                f"loaded versions: {sorted(versions)}"
            )
            raise ModelVersionNotFoundError(msg)
        return model

    def ready(self, name: str, version: str = "") -> bool:
        """Whether the model (version) can serve requests."""
        try:
            self.get(name, version)
        except HepinferError:
            return False
        return True

    def all_available(self) -> bool:
        """No model is loading or failed to load (unloaded on request does not count)."""
        return all(
            state == "READY" or (state == "UNAVAILABLE" and reason == "unloaded")
            for state, reason in self._state.values()
        )

    def versions(self, name: str) -> list[ServedModel]:
        """Loaded versions of a model, lowest first."""
        self.get(name)
        return [m for _, m in sorted(self._models[name].items())]

    def loaded(self) -> list[ServedModel]:
        """Every loaded model version."""
        return [m for vs in self._models.values() for m in vs.values()]

    def index(self, ready_only: bool = False) -> list[IndexEntry]:
        """RepositoryIndex: loaded versions and the state of the other models."""
        entries: list[IndexEntry] = []
        names = set(self.scan()) | set(self._state)
        for name in sorted(names):
            versions = self._models.get(name)
            if versions:
                entries.extend(IndexEntry(name, str(v), "READY", "") for v in sorted(versions))
            elif not ready_only:
                state, reason = self._state.get(name, ("UNAVAILABLE", "not loaded"))
                entries.append(IndexEntry(name, "", state, reason))
        return entries
