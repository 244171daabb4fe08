"""The cluster's Nodes, read through the Kubernetes API with its asyncio client
(kubernetes_asyncio): a kubeconfig file, else the pod's service account. Read-only: listing
nodes is all it asks (deploy/node-discovery-rbac.yaml)."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client, config

PAGE = 500


async def list_nodes(kubeconfig: str | None = None) -> list[dict[str, Any]]:
    """Every Node, as the API's JSON (page by page)."""
    configuration = client.Configuration()
    if kubeconfig:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    nodes: list[dict[str, Any]] = []
    async with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        token = None
        while True:
            page = await core.list_node(limit=PAGE, _continue=token, _preload_content=False)
            data = await page.json()
            nodes += data.get("items") or []
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return nodes
