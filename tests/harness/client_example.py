"""The seed's usage examples (docs "Basic Experiment Tracking" and "Model Registry") as a remote client.

Run as its own process, e.g. as another user in its own working directory:
    MLFLOW_TRACKING_URI=https://... MLFLOW_TRACKING_USERNAME=me MLFLOW_TRACKING_PASSWORD=<app password> \
        python client_example.py --experiment my-experiment --model-name MyModel
It stops at the first step that fails and prints one JSON document on the last line of stdout:
{"ok": bool, "steps": [{"step", "ok", "seconds", "error"}], ...}. Self-contained on purpose:
it imports only MLflow, scikit-learn and numpy, like a user's script.
"""

import argparse
import json
import os
import sys
import time
import traceback
import warnings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="my-experiment")
    parser.add_argument("--model-name", default="MyModel")
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument(
        "--seed-literal",
        dest="trust_tree",
        action="store_false",
        help="log_model exactly as the seed (no trusted types)",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # stage transitions are deprecated in MLflow 3; the seed uses them

    result = {"ok": False, "steps": [], "tracking_uri": args.tracking_uri, "cwd": os.getcwd()}

    def step(name, func):
        start = time.monotonic()
        try:
            value = func()
        except BaseException as exc:  # noqa: BLE001 - report every failure as data
            result["steps"].append(
                {"step": name, "ok": False, "seconds": round(time.monotonic() - start, 3),
                 "error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": traceback.format_exc()[-4000:]}
            )  # fmt: skip
            raise StopIteration from exc
        result["steps"].append({"step": name, "ok": True, "seconds": round(time.monotonic() - start, 3)})
        return value

    try:
        import mlflow  # noqa: PLC0415 - timed as the first step
        import mlflow.sklearn  # noqa: PLC0415
        import numpy as np  # noqa: PLC0415
        from mlflow import MlflowClient  # noqa: PLC0415
        from sklearn.ensemble import RandomForestRegressor  # noqa: PLC0415
        from sklearn.metrics import mean_squared_error  # noqa: PLC0415
        from sklearn.model_selection import train_test_split  # noqa: PLC0415

        step("set_tracking_uri", lambda: mlflow.set_tracking_uri(args.tracking_uri))
        experiment = step("set_experiment", lambda: mlflow.set_experiment(args.experiment))
        result["experiment_id"] = experiment.experiment_id
        result["experiment_artifact_location"] = experiment.artifact_location

        rng = np.random.default_rng(42)
        features = rng.normal(size=(400, 6))
        target = features @ rng.normal(size=6) + 0.1 * rng.normal(size=400)
        x_train, x_test, y_train, _y_test = train_test_split(features, target, test_size=0.25, random_state=0)
        y_test = _y_test

        with mlflow.start_run() as run:
            result["run_id"] = run.info.run_id
            result["run_artifact_uri"] = run.info.artifact_uri
            step("log_param", lambda: (mlflow.log_param("n_estimators", 100), mlflow.log_param("max_depth", 6)))
            model = RandomForestRegressor(n_estimators=100, max_depth=6, random_state=0)
            step("train", lambda: model.fit(x_train, y_train))
            predictions = model.predict(x_test)
            mse = mean_squared_error(y_test, predictions)
            result["mse"] = mse
            step("log_metric", lambda: mlflow.log_metric("mse", mse))
            # The seed's call, plus the one argument MLflow 3.15 needs for tree ensembles: it saves
            # sklearn models with skops, and skops 0.16 deliberately does not trust tree nodes.
            trusted = ["sklearn.tree._tree.Tree"] if args.trust_tree else None
            info = step("log_model", lambda: mlflow.sklearn.log_model(model, "model", skops_trusted_types=trusted))
            result["model_uri"] = info.model_uri

        version = step(
            "register_model", lambda: mlflow.register_model(f"runs:/{run.info.run_id}/model", args.model_name)
        )
        result["model_version"] = version.version
        client = MlflowClient()
        step(
            "transition_to_production",
            lambda: client.transition_model_version_stage(args.model_name, version.version, "Production"),
        )
        step("set_alias", lambda: client.set_registered_model_alias(args.model_name, args.alias, version.version))
        by_alias = client.get_model_version_by_alias(args.model_name, args.alias)
        result["alias_version"] = by_alias.version
        loaded = step("load_model", lambda: mlflow.sklearn.load_model(f"models:/{args.model_name}/Production"))
        registry_predictions = step("predict", lambda: loaded.predict(x_test))
        result["predictions_equal"] = bool(np.array_equal(registry_predictions, predictions))
        result["max_abs_difference"] = float(np.max(np.abs(registry_predictions - predictions)))
        stored = client.get_run(run.info.run_id).data
        result["logged_params"] = stored.params
        result["logged_metrics"] = stored.metrics
        result["ok"] = True
    except StopIteration:
        pass
    print(json.dumps(result, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
