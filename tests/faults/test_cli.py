"""``agentsoak proxy`` as the lead wires it: register_cli, flags, and the process on its own."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request

import pytest

from faults.cli import register_cli

pytestmark = pytest.mark.timeout(60)


def test_register_cli_flags():
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["proxy", "--port", "0", "--seed", "7", "--workers", "2", "--config", "x.json"])
    assert (args.host, args.port, args.seed, args.workers, args.config) == ("127.0.0.1", 0, 7, 2, "x.json")
    assert args.version_string == "2.12.0" and callable(args.func)


def test_process_runs_on_its_own_with_a_config(tmp_path, echo):
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "cfg", "upstream": echo, "toxics": [{"type": "latency"}]}]))
    proc = subprocess.Popen([sys.executable, "-m", "faults", "--port", "0", "--config", str(config)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("agentsoak proxy: API listening on http://127.0.0.1:")
        url = "http://" + line.strip().rsplit("http://", 1)[1]
        proxies = json.loads(urllib.request.urlopen(f"{url}/proxies", timeout=5).read())
        assert proxies["cfg"]["upstream"] == echo and proxies["cfg"]["toxics"] == []  # toxics ignored
    finally:
        proc.terminate()
        proc.wait(10)
