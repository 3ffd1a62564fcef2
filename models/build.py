"""Build Clarion's example model bundles: train, convert to ONNX, verify, write.

Each bundle is a folder ``<out>/<name>/`` holding ``model.onnx``, ``card.yaml``,
``background.csv`` and ``README.md`` (a short model card). The four bundles:

- ``german_credit``: LightGBM with native categorical splits, through onnxmltools;
  one float input ``[N, 20]`` (categories as their index in the card's list).
- ``breast_cancer``: scikit-learn random forest through skl2onnx; one float input ``[N, 30]``.
- ``hiring_screen``: scikit-learn MLP behind a ColumnTransformer, on a synthetic, seeded data
  set with a planted bias (``hiring_data``); one ``[N, 1]`` input per feature, strings for
  the categoricals.
- ``diabetes_progression``: scikit-learn gradient boosting regressor; one float input ``[N, 10]``.

How each is built lives in ``models/builders/`` (one module per bundle). The words
(labels, descriptions, reason phrases, outcome names, data sources, limitations) live in
``card_copy.yaml`` (English) and ``card_copy.de.yaml`` (German) beside this file; the
builders add what they compute, including each classifier's confidence buckets, calibrated
on its held-out split. Everything is seeded and single-threaded, so two runs write
byte-identical files. After converting, ONNX Runtime's output is compared with the original
model's on the held-out split and the build stops if they differ by more than a fixed
tolerance.

Usage: ``python models/build.py [--only NAME ...] [--out DIR]``. ``build_all`` is the entry
point for ``clarion models build``, which runs this file by path.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

HERE = pathlib.Path(__file__).resolve().parent
# This script is run by path (`python models/build.py`, or runpy from `clarion models
# build`) and models/ is not an installed package, so nothing puts the checkout on sys.path:
# add the repository root so that the builders import as `models.builders` (the name mypy
# and the tests use too) and use the checkout's `service` for the card schema.
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from models.builders import BUILDERS, BuildError, write_bundle  # noqa: E402


def build_all(out_dir: pathlib.Path, only: Sequence[str] | None = None) -> list[pathlib.Path]:
    """Train, convert, verify and write the bundles named in ``only`` (default: all four).

    Returns the bundle folders written, in build order. Raises BuildError when a
    converted model disagrees with the original or the data break an assumption.
    """
    from threadpoolctl import threadpool_limits

    names = list(dict.fromkeys(only)) if only else list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise BuildError(f"unknown bundle(s) {unknown}; choose from {list(BUILDERS)}")
    written = []
    with threadpool_limits(limits=1):  # one BLAS thread: bit-identical MLP training
        for name in names:
            print(f"building {name} ...")
            built = BUILDERS[name]()
            print(
                f"  ONNX Runtime vs native: max |diff| = {built.max_diff:.3g} "
                f"(tolerance {built.tolerance:g})"
            )
            if built.confidence is not None:
                print(
                    f"  confidence buckets: high >= {built.confidence.high:.4f}, "
                    f"moderate >= {built.confidence.moderate:.4f} "
                    f"(calibrated on {built.n_test} held-out rows)"
                )
            path = write_bundle(built, pathlib.Path(out_dir))
            print(f"  wrote {path} (model.onnx: {len(built.onnx_bytes):,} bytes)")
            written.append(path)
    return written


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="models/build.py",
        description=(
            "Rebuild Clarion's example model bundles from fixed seeds: train each model, "
            "convert it to ONNX, check ONNX Runtime against the original model on held-out "
            "data, calibrate classifiers' confidence buckets on that data, and write "
            "model.onnx, card.yaml, background.csv and README.md into OUT/<name>/. Two runs "
            "give byte-identical files. Card wording comes from card_copy.yaml (English) and "
            "card_copy.de.yaml (German) beside this script."
        ),
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BUILDERS),
        metavar="NAME",
        help=f"build only this bundle; repeat for several ({', '.join(BUILDERS)})",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=HERE,
        metavar="DIR",
        help="folder that receives one sub-folder per bundle (default: this script's folder)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    build_all(args.out, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
