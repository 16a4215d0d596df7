"""Component health: Theil-Sen slopes and the growth checks, on synthetic health samples."""

from __future__ import annotations

import random

import pytest

from reports.ledger import schema as ev
from reports.slope import MB, component_slopes, second_half, theil_sen
from reports.summary import summarize
from reports.thresholds import Thresholds
from reports.verify import FAIL, PASS, SKIP, verify

T0 = 1000.0


def _summary(duration_s: float, every_s: float, series: dict[str, tuple[float, float]], *, noise: float = 0.0,
             spikes: bool = False):
    """Health samples of components growing linearly: name -> (RSS MB/h, FDs/h)."""
    rng = random.Random(7)
    events: list[ev.Event] = [ev.TestStart(mono=T0, users=1), ev.TestStop(mono=T0 + duration_s)]
    n = int(duration_s // every_s) + 1
    for name, (mb_h, fd_h) in series.items():
        for i in range(n):
            t = i * every_s
            rss = 50 * MB + mb_h * MB * t / 3600.0 + rng.uniform(-noise, noise) * MB
            if spikes and i % 7 == 3:
                rss += 40 * MB  # a burst (a GC cycle, a reconnect storm): Theil-Sen ignores a minority of them
            events.append(ev.HealthSample(mono=T0 + t, component=name, component_pid=100 + len(name),
                                          rss_bytes=int(rss), fds=int(20 + fd_h * t / 3600.0), cpu_pct=1.0,
                                          connections=3, established=2))
    return summarize(events)


def _checks(summary, **th):
    return {c.name: c for c in verify(summary, Thresholds(**th)) if c.name.startswith("health.")}


def test_theil_sen_is_the_median_of_pairwise_slopes_and_ignores_outliers():
    assert theil_sen([0, 1, 2, 3], [0, 2, 4, 6]) == pytest.approx(2.0)
    assert theil_sen([0, 1, 2, 3, 4], [0, 1, 100, 3, 4]) == pytest.approx(1.0)  # one wild point
    assert theil_sen([1, 1], [0, 5]) is None and theil_sen([], []) is None
    xs = list(range(2000))
    assert theil_sen(xs, [3.0 * x for x in xs]) == pytest.approx(3.0)  # thinned, still exact


def test_second_half_and_per_component_slopes():
    s = _summary(1200, 5, {"server": (47.0, 0.0), "locust-master": (0.0, 600.0)}, spikes=True)
    assert second_half(s).start_s == 600 and second_half(s).end_s == 1200
    slopes = {c.component: c for c in component_slopes(s, min_samples=10, min_window_s=300)}
    assert slopes["server"].rss_mb_per_h == pytest.approx(47.0, rel=0.02)
    assert slopes["locust-master"].fds_per_h == pytest.approx(600.0, rel=0.05)
    assert slopes["server"].samples == 121


def test_growth_check_fails_naming_component_slope_limit_and_window():
    s = _summary(1200, 5, {"server": (47.0, 0.0), "proxy-worker-0": (3.5, 0.0), "locust-worker-1": (0.0, 0.0)},
                 noise=0.5)
    c = _checks(s)
    rss = c["health.rss_slope"]
    assert rss.verdict == FAIL and rss.limit == 20.0 and rss.observed == pytest.approx(47.0, rel=0.05)
    assert rss.detail.startswith("server: RSS +4") and "MB/h over 600-1200 s" in rss.detail
    assert "above the limit 20 MB/h" in rss.detail and "proxy-worker-0: RSS" not in rss.detail
    assert "proxy-worker-0 +" in rss.detail  # listed among all, not failing
    assert c["health.fd_slope"].verdict == PASS


def test_a_flat_run_passes_and_says_what_it_judged():
    c = _checks(_summary(1200, 5, {"server": (0.0, 0.0), "proxy": (2.0, 10.0)}, noise=1.0, spikes=True))
    for name in ("health.rss_slope", "health.fd_slope"):
        assert c[name].verdict == PASS, c[name].detail
        assert c[name].detail.startswith("every component's") and "600-1200 s" in c[name].detail


def test_fd_growth_fails():
    c = _checks(_summary(1200, 5, {"proxy-worker-1": (0.0, 900.0)}))
    assert c["health.fd_slope"].verdict == FAIL
    assert c["health.fd_slope"].detail.startswith("proxy-worker-1: open FDs +9")


def test_short_runs_and_few_samples_skip_and_say_why():
    short = _checks(_summary(60, 5, {"server": (5000.0, 0.0)}))["health.rss_slope"]
    assert short.verdict == SKIP and "too few samples" in short.detail and "shorter than 300 s" in short.detail
    sparse = _checks(_summary(1200, 120, {"server": (5000.0, 0.0)}))["health.rss_slope"]
    assert sparse.verdict == SKIP and "fewer than 10" in sparse.detail
    # the same short run is judged once the profile lowers the window, and then fails
    judged = _checks(_summary(60, 2, {"server": (5000.0, 0.0)}), health_min_window_s=20)["health.rss_slope"]
    assert judged.verdict == FAIL and "server" in judged.detail


def test_no_samples_and_disabled_skip():
    none = _checks(summarize([ev.TestStart(mono=T0, users=1), ev.TestStop(mono=T0 + 900)]))
    assert none["health.rss_slope"].verdict == SKIP and "no health samples" in none["health.rss_slope"].detail
    off = _checks(_summary(1200, 5, {"server": (47.0, 0.0)}), health_rss_slope_mb_per_h=None)
    assert off["health.rss_slope"].verdict == SKIP and "disabled" in off["health.rss_slope"].detail


def test_thresholds_are_overridable_from_the_profile_checks():
    th = Thresholds.from_mapping({"health_rss_slope_mb_per_h": 60, "health_fd_slope_per_h": None,
                                  "health_min_samples": 4, "health_min_window_s": 30})
    assert (th.health_rss_slope_mb_per_h, th.health_fd_slope_per_h, th.health_min_samples) == (60.0, None, 4)
    c = _checks(_summary(1200, 5, {"server": (47.0, 0.0)}), health_rss_slope_mb_per_h=60)
    assert c["health.rss_slope"].verdict == PASS
