"""agentsoak's routes on Locust's own web UI (``environment.web_ui.app``, a Flask app), master only.

- ``GET /agentsoak/gauges``: the Agents tab's numbers (:meth:`loadtests.ui.gauges.LiveGauges.snapshot`)
  and the swarms' runs with their verdicts;
- ``GET /agentsoak/faults``: proxies, their live toxics, the active faults, what can be done;
- ``POST /agentsoak/faults/apply`` (a fault entry, as in a profile), ``POST /agentsoak/faults/drop``
  (``{"how": "reset_peer"}`` or ``{"how": "close", "code": 1006}``), ``POST /agentsoak/faults/remove``
  (``{"fault": id}``), ``PUT``/``DELETE /agentsoak/faults/toxics/<name>``,
  ``POST /agentsoak/faults/timeline`` (``{"start": true|false}``);
- ``GET /agentsoak/runs/<run>/<file>``: a run's report.html (and the other report files).

Bad input answers 400 with ``{"error": ...}``: the profile loader's own message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from flask import Flask, abort, jsonify, request, send_from_directory

from .controls import ControlError, FaultControls
from .gauges import LiveGauges

__all__ = ["REPORT_FILES", "register"]

REPORT_FILES = frozenset({"report.html", "report.md", "report.json", "junit.xml", "run.json",
                          "profile.resolved.yaml"})


class WebSession(Protocol):
    """What the routes read of :class:`loadtests.ui.session.WebSession`."""

    gauges: LiveGauges
    controls: FaultControls
    runs: list[dict[str, Any]]
    base: Path

    def status(self) -> dict[str, Any]: ...


def register(app: Flask, session: WebSession) -> None:
    controls = session.controls

    def answer(action: Any) -> Any:
        try:
            return jsonify(action())
        except ControlError as exc:
            return jsonify({"error": str(exc)}), exc.status

    def body() -> Any:
        data = request.get_json(silent=True)
        if data is None:
            raise ControlError("<form>: the request body must be a JSON object")
        return data

    @app.route("/agentsoak/gauges")
    def agentsoak_gauges() -> Any:
        return jsonify({**session.gauges.snapshot(), **session.status()})

    @app.route("/agentsoak/faults")
    def agentsoak_faults() -> Any:
        return jsonify(controls.describe())

    @app.route("/agentsoak/faults/apply", methods=["POST"])
    def agentsoak_apply() -> Any:
        return answer(lambda: controls.apply(body()))

    @app.route("/agentsoak/faults/drop", methods=["POST"])
    def agentsoak_drop() -> Any:
        def drop() -> Any:
            data = body()
            return controls.drop_all(str(data.get("how", "close")), data.get("code", 1006))
        return answer(drop)

    @app.route("/agentsoak/faults/remove", methods=["POST"])
    def agentsoak_remove() -> Any:
        return answer(lambda: controls.remove(str(body().get("fault", ""))))

    @app.route("/agentsoak/faults/toxics/<name>", methods=["PUT", "DELETE"])
    def agentsoak_toxic(name: str) -> Any:
        if request.method == "DELETE":
            return answer(lambda: controls.remove_toxic(name))
        return answer(lambda: controls.update_toxic(name, body()))

    @app.route("/agentsoak/faults/timeline", methods=["POST"])
    def agentsoak_timeline() -> Any:
        return answer(lambda: controls.timeline(bool(body().get("start"))))

    @app.route("/agentsoak/runs/<run>/<path:name>")
    def agentsoak_run_file(run: str, name: str) -> Any:
        if name not in REPORT_FILES or "/" in run or run.startswith("."):
            abort(404)
        if not any(r["run"] == run for r in session.runs):
            abort(404)  # only this session's runs
        return send_from_directory(session.base / run, name)
