"""The Kubernetes manifests in examples/kubernetes/ (docs/distributed.md): a master, N workers, the
embedded proxy in the master's process or as its pod's sidecar, or a real Toxiproxy, and the run
directory on a volume.

Each file parses as YAML; every ``agentsoak`` command in them parses with the real command line
(no stale option) and a master's options are accepted as a run would; ports, names and the worker
count agree across the Services, the pods and the commands; the shipped profiles load. Then
kubeconform validates them against the Kubernetes schemas where a ``kubeconform`` binary is on PATH
(skipped, saying so, elsewhere).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from loadtests.cli import build_parser
from loadtests.distributed import MasterOptions, master_options
from loadtests.profile import load_profile

K8S = Path(__file__).resolve().parents[1] / "examples" / "kubernetes"
MANIFESTS = sorted(K8S.glob("*.yaml"))


def _docs() -> dict[str, list[dict]]:
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d is not None] for p in MANIFESTS}


def _pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def _containers(doc: dict) -> list[dict]:
    pod = _pod(doc)
    return [*pod.get("initContainers", []), *pod["containers"]]


def _one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _args(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _service_ports(service: dict) -> dict[str, int]:
    return {p["name"]: p["port"] for p in service["spec"]["ports"]}


def test_every_manifest_parses_and_names_its_kinds():
    docs = _docs()
    assert {"profiles.yaml", "master.yaml", "master-sidecar.yaml", "workers.yaml", "toxiproxy.yaml"} <= set(docs)
    kinds = {d["kind"] for ds in docs.values() for d in ds}
    assert {"ConfigMap", "PersistentVolumeClaim", "Service", "Job", "Deployment"} <= kinds
    for name, ds in docs.items():
        for d in ds:
            assert d["apiVersion"] and d["metadata"]["name"], name


def test_every_container_runs_agentsoak_or_toxiproxy_and_its_command_parses():
    parser = build_parser()
    seen = 0
    for name, ds in _docs().items():
        for d in ds:
            if d["kind"] not in ("Job", "Deployment"):
                continue
            for c in _containers(d):
                seen += 1
                if "toxiproxy" in c["image"]:
                    continue
                assert "agentsoak" in c["image"], f"{name}: {c['name']}"
                argv = _args(c)
                assert argv[0] == "agentsoak", f"{name}: {c['name']}"
                parser.parse_args(argv[1:])  # SystemExit on a stale option
    assert seen >= 5


def _master_of(docs: list[dict]) -> tuple[MasterOptions, dict, list[dict]]:
    job = _one(docs, "Job", "agentsoak-master")
    master = next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "master")
    args = build_parser().parse_args(_args(master)[1:])
    opts = master_options(args)
    assert isinstance(opts, MasterOptions), opts
    return opts, args, _containers(job)


@pytest.mark.parametrize("manifest", ["master.yaml", "master-sidecar.yaml"])
def test_master_service_pod_and_workers_agree(manifest):
    docs = _docs()
    opts, args, containers = _master_of(docs[manifest])
    service = _one(docs[manifest], "Service", "agentsoak-master")
    ports = _service_ports(service)
    labels = _one(docs[manifest], "Job", "agentsoak-master")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    pod_ports = {p["containerPort"] for c in containers for p in c.get("ports", [])}
    assert opts.port == ports["locust"] and opts.port in pod_ports
    agents = urlsplit(opts.agents_url)
    assert agents.hostname == service["metadata"]["name"] and agents.port == ports["agents"]
    assert int(opts.agents_listen.rsplit(":", 1)[1]) == ports["agents"] in pod_ports
    # the run directory is the volume the PVC backs
    mounts = {m["name"]: m["mountPath"] for c in containers for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in _pod(_one(docs[manifest], "Job", "agentsoak-master"))["volumes"]}
    runs = next(n for n, v in volumes.items() if "persistentVolumeClaim" in v)
    assert mounts[runs] == args.output_dir
    _one(docs["profiles.yaml"], "PersistentVolumeClaim", volumes[runs]["persistentVolumeClaim"]["claimName"])
    profile = volumes[next(n for n, v in volumes.items() if "configMap" in v)]["configMap"]["name"]
    _one(docs["profiles.yaml"], "ConfigMap", profile)
    assert args.profile.startswith(mounts["profiles"] + "/")
    # the workers: as many as the master expects, dialling its Service
    workers = _one(docs["workers.yaml"], "Job", "agentsoak-workers")
    assert workers["spec"]["parallelism"] == workers["spec"]["completions"] == opts.expect_workers
    (worker,) = _pod(workers)["containers"]
    wargs = build_parser().parse_args(_args(worker)[1:])
    assert wargs.master_host == service["metadata"]["name"] and wargs.master_port == ports["locust"]


def test_the_sidecar_proxy_is_the_one_the_profile_drives():
    docs = _docs()
    _, args, containers = _master_of(docs["master-sidecar.yaml"])
    proxy = next(c for c in containers if c["name"] == "proxy")
    pargs = build_parser().parse_args(_args(proxy)[1:])
    assert pargs.host == "127.0.0.1"  # the fault API stays on the pod's loopback
    text = _one(docs["profiles.yaml"], "ConfigMap", "agentsoak-profiles")["data"][Path(args.profile).name]
    url = urlsplit(yaml.safe_load(text)["proxy"]["url"])
    assert (url.hostname, url.port) == (pargs.host, pargs.port)


def test_the_toxiproxy_profile_reaches_the_services():
    docs = _docs()["toxiproxy.yaml"]
    data = _one(_docs()["profiles.yaml"], "ConfigMap", "agentsoak-profiles")["data"]
    profile = yaml.safe_load(data["toxiproxy.yaml"])
    proxy, target = urlsplit(profile["proxy"]["url"]), urlsplit(profile["target"]["url"])
    assert proxy.port == _service_ports(_one(docs, "Service", proxy.hostname))["api"]
    assert target.port == _service_ports(_one(docs, "Service", target.hostname))["ws"]
    server = _pod(_one(docs, "Deployment", "agentsoak-server"))["containers"][0]
    assert build_parser().parse_args(_args(server)[1:]).port == target.port
    toxi = _pod(_one(docs, "Deployment", "toxiproxy"))["containers"][0]
    assert {p["containerPort"] for p in toxi["ports"]} == set(_service_ports(_one(docs, "Service", "toxiproxy")).values())


def test_the_shipped_profiles_load(tmp_path):
    data = _one(_docs()["profiles.yaml"], "ConfigMap", "agentsoak-profiles")["data"]
    assert len(data) == 3
    for name, text in data.items():
        path = tmp_path / name
        path.write_text(text)
        profile = load_profile(path, allow_remote=True)
        assert profile.load.processes == 1 and profile.faults, name


def test_kubeconform_validates_the_manifests():
    binary = shutil.which("kubeconform")
    if binary is None:
        pytest.skip("kubeconform is not on PATH (a Go binary; not in PyPI, Debian or npm here)")
    res = subprocess.run([binary, "-strict", "-summary", *map(str, MANIFESTS)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
