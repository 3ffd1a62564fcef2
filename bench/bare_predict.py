"""The floor for bench/hot_path.py: the predict service a team would write by hand.

FastAPI, a pydantic body, one ONNX Runtime session, categories mapped to their codes,
no validation beyond that, no audit, no explanation. Run it as
``BARE_BUNDLE=models/german_credit uvicorn --factory bench.bare_predict:create_app``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import yaml
from fastapi import FastAPI
from pydantic import BaseModel


class Body(BaseModel):
    instances: list[dict[str, Any]]


def create_app() -> FastAPI:
    bundle = Path(os.environ["BARE_BUNDLE"])
    card = yaml.safe_load((bundle / "card.yaml").read_text(encoding="utf-8"))
    features = card["features"]
    codes = [
        {c: float(i) for i, c in enumerate(f["categories"])} if f.get("categories") else None
        for f in features
    ]
    names = [f["name"] for f in features]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    classes = card["classes"]
    app = FastAPI()

    @app.post("/predict")
    def predict(body: Body) -> dict[str, Any]:
        X = np.array(
            [
                [
                    m[x[n]] if m is not None else float(x[n])
                    for n, m in zip(names, codes, strict=True)
                ]
                for x in body.instances
            ],
            dtype=np.float32,
        )
        _, probabilities = session.run(None, {input_name: X})
        return {
            "predictions": [
                {
                    "label": classes[int(np.argmax(p))],
                    "probabilities": dict(zip(classes, p.tolist(), strict=True)),
                }
                for p in probabilities
            ]
        }

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
