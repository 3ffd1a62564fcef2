"""The model registry: which bundles are served, each with its session and tree tables.

At start-up every folder of the models directory is loaded, each with every version it
holds (``service.models.versions``: the layout); a bad bundle is refused with one log
line and the good ones are served. Uploads go through the
same checks and are written to the models directory atomically (a temporary
folder renamed into place), so a refused or interrupted upload leaves nothing.

Loading composes a model from parts that never change afterwards: the bundle, the
ONNX Runtime session and the tree capability (verified trees, or why there are none).
``LoadedModel.function`` and ``LoadedModel.capabilities`` are what the engine builds a
game and asks the explainer registry with.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import structlog
from numpy.typing import NDArray

from service.errors import BundleRejected, ClarionError, Conflict, ModelError, NotFound
from service.explain.capabilities import NOT_A_TREE_ENSEMBLE, Capabilities
from service.explain.explanation import OutputSpace
from service.explain.game import PredictFn
from service.explain.trees.store import TableStore
from service.explain.trees.support import TreeSupport, TreeUnsupported, prepare_tree_support
from service.models.bundle import (
    BACKGROUND_FILE,
    MODEL_FILE,
    Bundle,
    BundleLimits,
    read_bundle_dir,
)
from service.models.runtime import OnnxModel
from service.models.sandbox import check_in_child
from service.models.versions import (
    VERSIONS_DIR,
    archive_folder,
    check_version,
    read_default,
    remove_bundle,
    version_folders,
    version_key,
    write_default,
)
from service.settings import Settings

__all__ = ["LoadedModel", "ModelRegistry"]

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class LoadedModel:
    """A bundle that passed every check, with its ONNX Runtime session and tree capability."""

    bundle: Bundle
    runtime: OnnxModel
    trees: TreeSupport | TreeUnsupported = NOT_A_TREE_ENSEMBLE
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    folder: Path | None = None  # where the bundle lives on disk (None: never stored)

    @property
    def name(self) -> str:
        return self.bundle.card.name

    @property
    def version(self) -> str:
        return self.bundle.card.version

    def capabilities(self, space: OutputSpace | None = None) -> Capabilities:
        """What explainers may know of this model (in ``space``; None: in general)."""
        card = self.bundle.card
        return Capabilities(
            n_players=len(card.players),
            n_columns=len(card.features),
            task=card.task,
            output_space=space,
            trees=self.trees,
        )

    def outputs(
        self, X: NDArray[np.float64], space: OutputSpace
    ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """The graph's output for rows X, as ``OnnxModel.run`` reads it (what predictions
        are made of), and ``function(space)``'s answer for X where the same run gives it
        (None: only a run of its own would). One run: the probability space's answer is
        the output, raw space's the link of it, or, for verified trees, their margin
        graph's answer beside the output (``TreeSupport.predict_joint``)."""
        if space == "raw" and isinstance(self.trees, TreeSupport):
            if self.trees.predict_joint is None:
                return self.runtime.run(X), None
            return self.trees.predict_joint(X)
        y = self.runtime.run(X)
        return y, self.runtime.in_space(y, space)

    def function(self, space: OutputSpace) -> PredictFn:
        """The model in ``space``: (n_samples, n_columns) -> (n_samples, n_outputs) float64.

        Verified trees answer raw space with their exact margin graph; otherwise the
        session's own output (probability, a regressor's value) or its link's margin.
        """
        if space == "raw" and isinstance(self.trees, TreeSupport):
            return self.trees.predict_raw
        return self.runtime.function(space)


def limits_from(settings: Settings) -> BundleLimits:
    return BundleLimits(
        max_model_bytes=settings.max_upload_bytes,
        max_model_nodes=settings.max_model_nodes,
        max_background_rows=settings.max_background_rows,
    )


def build_model(bundle: Bundle, settings: Settings) -> LoadedModel:
    """Create the session, check the graph against the card, and run a test prediction."""
    runtime = OnnxModel(
        bundle.model,
        bundle.card,
        providers=settings.providers,
        intra_op_threads=settings.ort_intra_op_threads,
        chunk_rows=settings.predict_chunk_rows,
    )
    probe = bundle.background[: min(8, bundle.background.shape[0])]
    try:
        y = runtime.run(probe)
    except ModelError as exc:
        raise BundleRejected(f"the test prediction on background rows failed: {exc}") from exc
    except ClarionError:
        raise
    except Exception as exc:  # ORT's errors are untyped; any failure here refuses the bundle
        raise BundleRejected(f"the test prediction on background rows failed: {exc}") from exc
    if y.shape != (probe.shape[0], runtime.n_outputs) or not np.all(np.isfinite(y)):
        raise BundleRejected(
            f"the test prediction returned shape {y.shape} or non-finite values; expected "
            f"{(probe.shape[0], runtime.n_outputs)} finite values"
        )
    wanted = runtime.requested_providers[0]
    if wanted not in runtime.providers_in_use:
        # ONNX Runtime falls back silently; say it once, loudly, per model.
        log.warning(
            "model.provider_fallback",
            model=bundle.card.name,
            requested=list(runtime.requested_providers),
            in_use=list(runtime.providers_in_use),
        )
    if bundle.card.positive_class_defaulted:
        # Explanations of a binary model must point one way for every row; say which.
        log.warning(
            "model.positive_class_defaulted",
            model=bundle.card.name,
            positive_class=bundle.card.positive_class,
            hint="set positive_class in the card to choose the class explanations point to",
        )
    # Parse tree ensembles for exact TreeSHAP; a refusal is kept as the reason, never fatal.
    # Tables built for this model and background are kept on disk for the other workers
    # and the next start (``trees.store``), named by the model file's SHA-256.
    store = TableStore(settings.data_dir / "cache" / "trees", bundle.model_sha256)
    trees = prepare_tree_support(runtime, bundle.model, bundle.card, bundle.background, store=store)
    loaded = LoadedModel(bundle=bundle, runtime=runtime, trees=trees)
    if isinstance(trees, TreeSupport):
        _warm_tree_tables(loaded, trees)
    return loaded


def _warm_tree_tables(loaded: LoadedModel, support: TreeSupport) -> None:
    """Build the path tables for the bundle's background (and compile the kernels on the
    process's first model) at load, so the first request is as fast as the rest; the
    tables are cached under the same key the engine's game uses."""
    start = time.perf_counter()
    bundle = loaded.bundle
    players = tuple(p.columns for p in bundle.card.players)
    support.interventional(bundle.background[:1], bundle.background, players)
    log.info("model.tree_tables_ready", model=bundle.card.name,
             ms=round((time.perf_counter() - start) * 1000, 1))  # fmt: skip


class ModelRegistry:
    """The served models, by name and version. Thread-safe for reads during uploads.

    Each name serves one or more versions (``service.models.versions``: the layout on
    disk); a request without a version gets the default, the newest unless an admin
    chose one. Versions deleted while records name them stay loadable for replay.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = limits_from(settings)
        self._models: dict[str, dict[str, LoadedModel]] = {}
        self._defaults: dict[str, str] = {}  # chosen by an admin (default.json)
        self._retired: dict[tuple[str, str], LoadedModel] = {}  # (name, sha256): for replay
        self._lock = threading.Lock()
        self._changing = threading.Lock()  # one upload, default change or delete at a time
        self.refused: dict[str, str] = {}

    def __iter__(self) -> Iterator[LoadedModel]:
        """Each served model at its default version, by name."""
        with self._lock:
            models = [self._default_in(name, served) for name, served in self._models.items()]
        return iter(sorted(models, key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def _served(self, name: str) -> dict[str, LoadedModel]:
        served = self._models.get(name)
        if not served:
            raise NotFound(
                f"no model named {name!r} is served",
                details={"field": "name", "problem": "unknown model"},
            )
        return served

    def _default_in(self, name: str, served: dict[str, LoadedModel]) -> LoadedModel:
        chosen = self._defaults.get(name)
        if chosen is not None and chosen in served:
            return served[chosen]
        return served[max(served, key=version_key)]

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The model ``name`` at ``version`` (None: its default); 404 naming what is unknown."""
        with self._lock:
            served = self._served(name)
            if version is None:
                return self._default_in(name, served)
            model = served.get(version)
            known = sorted(served, key=version_key, reverse=True)
        if model is None:
            raise NotFound(
                f"model {name!r} has no version {version!r}; served: {', '.join(known)}",
                details={"field": "version", "problem": "unknown version"},
            )
        return model

    def versions(self, name: str) -> list[LoadedModel]:
        """Every served version of ``name``, newest first; 404 for an unknown name."""
        with self._lock:
            served = list(self._served(name).values())
        return sorted(served, key=lambda m: version_key(m.version), reverse=True)

    def default_chosen(self, name: str) -> bool:
        """Whether an admin chose ``name``'s default (else it is the newest version)."""
        with self._lock:
            return self._defaults.get(name) in self._models.get(name, {})

    def load_all(self) -> None:
        """Load every bundle folder in the models directory; refuse bad ones loudly."""
        root = self.settings.models_dir
        if not root.is_dir():
            log.warning("models.dir_missing", models_dir=str(root))
            return
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            self._load_folder(path)

    def load_one(self, name: str) -> LoadedModel:
        """Load one model, every version, by folder name (the CLI needs only the model it
        explains); its default version."""
        path = self.settings.models_dir / name
        if not version_folders(path):
            raise NotFound(f"no bundle named {name!r} in {self.settings.models_dir}")
        self._load_folder(path)
        if name in self.refused:
            raise BundleRejected(f"bundle {name!r} was refused: {self.refused[name]}")
        return self.get(name)

    def _load_folder(self, folder: Path) -> None:
        for path in version_folders(folder):
            self._load_path(path, folder.name, extra=path != folder)
        chosen = read_default(folder)
        if chosen is not None:
            with self._lock:
                self._defaults[folder.name] = chosen

    def _load_path(self, path: Path, name: str, *, extra: bool) -> None:
        key = f"{name}/{VERSIONS_DIR}/{path.name}" if extra else name
        try:
            bundle = read_bundle_dir(path, self.limits, name=name)
            version = bundle.card.version
            if extra and version != path.name:
                raise BundleRejected(
                    f"the card names version {version!r} but its folder is {path.name!r}"
                )
            if version in self._models.get(name, {}):
                raise BundleRejected(f"version {version!r} of {name!r} is already served")
            check_in_child(bundle, self.settings)  # loop and memory bombs
            loaded = build_model(bundle, self.settings)
        except ClarionError as exc:
            self.refused[key] = exc.message
            log.error("model.refused", model=key, reason=exc.message)
            return
        loaded.folder = path
        with self._lock:
            self._models.setdefault(name, {})[version] = loaded
        log.info(
            "model.loaded",
            model=loaded.name,
            version=version,
            sha256=loaded.bundle.model_sha256[:12],
            provider=loaded.runtime.providers_in_use[0],
            trees=loaded.trees.reason if isinstance(loaded.trees, TreeUnsupported) else "verified",
        )

    def add(self, bundle: Bundle) -> LoadedModel:
        """Serve an uploaded bundle and persist it: a new model, or a new version of a
        served one (``versions/<version>/``); 409 if that version is served already."""
        name, version = bundle.card.name, bundle.card.version
        self._check_new(name, version)
        if (self.settings.models_dir / name).exists():
            check_version(version, "card.version")  # it names a folder
        check_in_child(bundle, self.settings)  # loop and memory bombs
        loaded = build_model(bundle, self.settings)
        with self._changing:
            self._check_new(name, version)
            folder = self.settings.models_dir / name
            if folder.exists():  # a further version: it names a folder
                target = folder / VERSIONS_DIR / check_version(version, "card.version")
            else:
                target = folder
            self._persist(bundle, target)
            loaded.folder = target
            with self._lock:
                self._models.setdefault(name, {})[version] = loaded
        log.info("model.uploaded", model=name, version=version, sha256=bundle.model_sha256[:12])
        return loaded

    def _check_new(self, name: str, version: str) -> None:
        with self._lock:
            taken = version in self._models.get(name, {})
        if taken:
            raise Conflict(
                f"model {name!r} already serves version {version!r}; upload it under a new version",
                details={"field": "card.version", "problem": "already served"},
            )

    def _persist(self, bundle: Bundle, final: Path) -> None:
        if final.exists():
            raise Conflict(
                f"the models directory already holds {final.relative_to(self.settings.models_dir)}"
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=final.parent))
        try:
            (tmp / MODEL_FILE).write_bytes(bundle.model_bytes)
            (tmp / "card.yaml").write_bytes(bundle.card_text)
            (tmp / BACKGROUND_FILE).write_bytes(bundle.background_csv)
            os.rename(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundleRejected(f"the bundle could not be stored: {exc.strerror}") from exc

    def set_default(self, name: str, version: str | None) -> LoadedModel:
        """Make ``version`` the default of ``name`` (None: the newest again), kept in the
        model's folder across restarts; the new default."""
        with self._changing:
            self.get(name, version)  # 404 for an unknown name or version
            folder = self.settings.models_dir / name
            if folder.is_dir():
                write_default(folder, version)
            with self._lock:
                if version is None:
                    self._defaults.pop(name, None)
                else:
                    self._defaults[name] = version
        log.info("model.default_set", model=name, version=version or "newest")
        return self.get(name)

    def remove(self, name: str, version: str, *, keep: bool) -> LoadedModel:
        """Stop serving ``version`` of ``name``. ``keep``: its files move to the archive
        (records name it, replay needs it); otherwise they are deleted."""
        with self._changing:
            model = self.get(name, version)
            with self._lock:
                served = self._models[name]
                del served[version]
                if not served:
                    del self._models[name]
                if self._defaults.get(name) == version:
                    del self._defaults[name]
                if keep:
                    self._retired[(name, model.bundle.model_sha256)] = model
            folder = self.settings.models_dir / name
            keep_in = archive_folder(self.settings.data_dir, name, model.bundle.model_sha256)
            if model.folder is not None:
                remove_bundle(model.folder, folder, keep_in=keep_in if keep else None)
            if folder.is_dir() and read_default(folder) == version:
                write_default(folder, None)
        log.info("model.version_removed", model=name, version=version, archived=keep)
        return model

    def recorded(self, name: str, version: str, model_sha256: str) -> LoadedModel:
        """The model a record names, for replay: the served version with that file, else
        the archived one (loaded once, checked like any bundle, never served), else the
        served version with another file (replay reports the change); 404 otherwise."""
        with self._lock:
            model = self._models.get(name, {}).get(version)
            if model is not None and model.bundle.model_sha256 == model_sha256:
                return model
            retired = self._retired.get((name, model_sha256))
        if retired is not None:
            return retired
        archived = archive_folder(self.settings.data_dir, name, model_sha256)
        if (archived / MODEL_FILE).is_file():
            bundle = read_bundle_dir(archived, self.limits, name=name)
            check_in_child(bundle, self.settings)
            loaded = build_model(bundle, self.settings)
            loaded.folder = archived
            with self._lock:
                self._retired[(name, model_sha256)] = loaded
            log.info("model.archive_loaded", model=name, version=bundle.card.version)
            return loaded
        if model is not None:
            return model
        raise NotFound(
            f"version {version!r} of model {name!r} is neither served nor archived",
            details={"field": "version", "problem": "unknown version"},
        )
