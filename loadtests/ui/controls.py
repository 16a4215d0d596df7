"""The Faults tab's actions, on the Locust master (or local runner) only.

A form's fault is a profile fault entry (``kind``, ``type``, ``stream``, ``toxicity``, ``attributes``,
``duration``, ``code``, ``share``, ``status``, ``retry_after``...): it is checked by the profile loader's
own rules (:func:`loadtests.profile.faults.read_fault_entry`), so bad input gets the same errors, and
played by :meth:`faults.schedule.FaultSchedule.apply_now`, so it is recorded exactly like a scheduled
fault (``fault_apply`` / ``fault_remove`` / ``fault_error``) with ``manual: true``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from faults.schedule import FaultSchedule, toxic_name
from faults.server_admin import CLOSE_CODES, REFUSE_STATUSES, STALL_WHERE
from loadtests.profile import ProfileError
from loadtests.profile.faults import TOXIC_ATTRIBUTES, read_fault_entry
from reports.ledger import schema as ev

__all__ = ["ControlError", "FaultControls", "DROP_RESET_S"]

#: a drop by reset_peer holds the toxic this long: every live connection carrying bytes is reset
DROP_RESET_S = 1.0


class ControlError(Exception):
    """An action that cannot be done now; ``status`` is the HTTP status the web route answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class FaultControls:
    """Manual faults of the current run. ``schedule`` is set while a swarm runs (None otherwise)."""

    def __init__(self, *, proxy_kind: str, target_kind: str, toxics: Any, admin: Any, proxy_name: str,
                 timeline: Callable[[bool | None], bool] | None = None) -> None:
        self.proxy_kind = proxy_kind
        self.target_kind = target_kind
        self.toxics = toxics
        self.admin = admin
        self.proxy_name = proxy_name
        self.schedule: FaultSchedule | None = None
        self._timeline = timeline  # timeline(start: bool) -> whether it now runs
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- what the tab shows --------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        proxies: list[dict[str, Any]] = []
        error = None
        if self.toxics is not None:
            try:
                for name, proxy in sorted(self.toxics.proxies().items()):
                    proxies.append({"name": name, "listen": proxy.get("listen"), "upstream": proxy.get("upstream"),
                                    "enabled": proxy.get("enabled"), "toxics": proxy.get("toxics", [])})
            except Exception as exc:  # noqa: BLE001 - shown on the tab, never a 500
                error = f"the proxy API did not answer: {exc}"
        schedule = self.schedule
        return {
            "running": schedule is not None,
            "proxy_name": self.proxy_name,
            "proxies": proxies,
            "proxy_error": error,
            "active": schedule.active() if schedule is not None else [],
            "timeline": self._timeline is not None and self._timeline(None),
            "can": {"toxics": self.toxics is not None, "protocol": self.admin is not None},
            "toxic_types": TOXIC_ATTRIBUTES,
            "close_codes": sorted(CLOSE_CODES),
            "refuse_statuses": sorted(REFUSE_STATUSES),
            "stall_where": sorted(STALL_WHERE),
        }

    # -- actions -------------------------------------------------------------------------------
    def apply(self, entry: Any) -> dict[str, Any]:
        """Apply one fault entry now; returns ``{"fault": id, "ok": bool}``."""
        schedule = self._need_schedule()
        if not isinstance(entry, Mapping):
            raise ControlError("<form>: a fault entry must be a JSON object")
        try:
            spec = read_fault_entry(dict(entry), proxy_kind=self.proxy_kind, target_kind=self.target_kind)
        except ProfileError as exc:
            raise ControlError(str(exc)) from None
        n = next(self._ids)
        fault_id = f"{entry['name']}#m{n}" if entry.get("name") else f"manual-{spec.ledger_type}#m{n}"
        ok = schedule.apply_now(spec, fault_id)
        return {"fault": fault_id, "ok": ok, "toxic": toxic_name(fault_id) if spec.kind == "toxic" else None}

    def drop_all(self, how: str, code: Any = None) -> dict[str, Any]:
        """Drop every live connection: a reset_peer toxic held for ``DROP_RESET_S``, or a server close."""
        if how == "reset_peer":
            return self.apply({"name": "drop-all", "kind": "toxic", "type": "reset_peer", "stream": "downstream",
                               "duration": DROP_RESET_S, "attributes": {"timeout": 0}})
        if how == "close":
            return self.apply({"name": "drop-all", "kind": "close", "code": code, "share": 1.0})
        raise ControlError(f"<form>: how: {how!r} is not a way to drop; expected one of reset_peer, close")

    def remove(self, fault_id: str) -> dict[str, Any]:
        schedule = self._need_schedule()
        if schedule.remove_now(fault_id):
            return {"fault": fault_id, "removed": True}
        raise ControlError(f"fault {fault_id!r} is not active (active: {', '.join(schedule.active()) or 'none'})",
                           status=404)

    def remove_toxic(self, name: str) -> dict[str, Any]:
        """Remove any toxic of the agents' proxy: a fault of this run by its id, any other by a manual removal."""
        schedule = self._need_schedule()
        for fault_id in schedule.active():
            if toxic_name(fault_id) == name:
                return self.remove(fault_id)
        toxics = self._need_toxics()
        try:
            toxic = next((t for t in toxics.toxics(self.proxy_name) if t.get("name") == name), None)
        except Exception as exc:  # noqa: BLE001
            raise ControlError(f"the proxy API did not answer: {exc}", status=502) from None
        if toxic is None:
            raise ControlError(f"proxy {self.proxy_name!r} has no toxic {name!r}", status=404)
        kind = str(toxic.get("type") or "toxic")
        try:
            toxics.remove_toxic(self.proxy_name, name)
        except Exception as exc:  # noqa: BLE001
            schedule.record(ev.FaultError(fault=name, type=kind, error=str(exc), manual=True))
            raise ControlError(f"could not remove toxic {name!r}: {exc}", status=502) from None
        schedule.record(ev.FaultRemove(fault=name, type=kind, manual=True))
        return {"fault": name, "removed": True}

    def update_toxic(self, name: str, entry: Any) -> dict[str, Any]:
        """Replace toxic ``name`` with ``entry`` (validated first): recorded as its removal and a new apply."""
        if not isinstance(entry, Mapping):
            raise ControlError("<form>: a fault entry must be a JSON object")
        try:
            read_fault_entry({"kind": "toxic", **entry}, proxy_kind=self.proxy_kind, target_kind=self.target_kind)
        except ProfileError as exc:
            raise ControlError(str(exc)) from None
        self.remove_toxic(name)
        return self.apply({"kind": "toxic", **entry})

    def timeline(self, start: bool) -> dict[str, Any]:
        self._need_schedule()
        if self._timeline is None:
            raise ControlError("this profile has no fault timeline")
        return {"timeline": self._timeline(start)}

    def _need_schedule(self) -> FaultSchedule:
        schedule = self.schedule
        if schedule is None:
            raise ControlError("no swarm is running: start one first (each swarm is a run that records the faults)",
                               status=409)
        return schedule

    def _need_toxics(self) -> Any:
        if self.toxics is None:
            raise ControlError("this profile runs without a proxy (proxy.kind none)", status=409)
        return self.toxics
