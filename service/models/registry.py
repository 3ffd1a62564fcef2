"""The model registry: which bundles are served, each with its session and tree tables.

At start-up every folder of the models directory is loaded; a bad bundle is
refused with one log line and the good ones are served. Uploads go through the
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

    @property
    def name(self) -> str:
        return self.bundle.card.name

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
    """The served models, by name. Thread-safe for reads during uploads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = limits_from(settings)
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self.refused: dict[str, str] = {}

    def __iter__(self) -> Iterator[LoadedModel]:
        with self._lock:
            models = list(self._models.values())
        return iter(sorted(models, key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self._models)

    def get(self, name: str) -> LoadedModel:
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(
                f"no model named {name!r} is served",
                details={"field": "name", "problem": "unknown model"},
            ) from None

    def load_all(self) -> None:
        """Load every bundle folder in the models directory; refuse bad ones loudly."""
        root = self.settings.models_dir
        if not root.is_dir():
            log.warning("models.dir_missing", models_dir=str(root))
            return
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (path / MODEL_FILE).exists():
                self._load_path(path)

    def load_one(self, name: str) -> LoadedModel:
        """Load one bundle by folder name (the CLI needs only the model it explains)."""
        path = self.settings.models_dir / name
        if not (path / MODEL_FILE).exists():
            raise NotFound(f"no bundle named {name!r} in {self.settings.models_dir}")
        self._load_path(path)
        if name in self.refused:
            raise BundleRejected(f"bundle {name!r} was refused: {self.refused[name]}")
        return self.get(name)

    def _load_path(self, path: Path) -> None:
        try:
            bundle = read_bundle_dir(path, self.limits)
            check_in_child(bundle, self.settings)  # loop and memory bombs
            loaded = build_model(bundle, self.settings)
        except ClarionError as exc:
            self.refused[path.name] = exc.message
            log.error("model.refused", model=path.name, reason=exc.message)
            return
        with self._lock:
            self._models[loaded.name] = loaded
        log.info(
            "model.loaded",
            model=loaded.name,
            version=loaded.bundle.card.version,
            sha256=loaded.bundle.model_sha256[:12],
            provider=loaded.runtime.providers_in_use[0],
            trees=loaded.trees.reason if isinstance(loaded.trees, TreeUnsupported) else "verified",
        )

    def add(self, bundle: Bundle) -> LoadedModel:
        """Serve an uploaded bundle and persist it; 409 if the name is taken."""
        name = bundle.card.name
        if name in self._models:
            raise Conflict(
                f"a model named {name!r} is already served; upload it under a new name",
                details={"field": "card.name", "problem": "already served"},
            )
        check_in_child(bundle, self.settings)  # loop and memory bombs
        loaded = build_model(bundle, self.settings)
        self._persist(bundle)
        with self._lock:
            if name in self._models:
                raise Conflict(f"a model named {name!r} is already served")
            self._models[name] = loaded
        log.info("model.uploaded", model=name, sha256=bundle.model_sha256[:12])
        return loaded

    def _persist(self, bundle: Bundle) -> None:
        root = self.settings.models_dir
        root.mkdir(parents=True, exist_ok=True)
        final = root / bundle.card.name
        if final.exists():
            raise Conflict(f"the models directory already holds {bundle.card.name!r}")
        tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=root))
        try:
            (tmp / MODEL_FILE).write_bytes(bundle.model_bytes)
            (tmp / "card.yaml").write_bytes(bundle.card_text)
            (tmp / BACKGROUND_FILE).write_bytes(bundle.background_csv)
            os.rename(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundleRejected(f"the bundle could not be stored: {exc.strerror}") from exc
