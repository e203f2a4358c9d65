"""Rule download_shard: fetch one shard of the catalog from the SAS and list what arrived.

A shard where more files failed (not "missing": the network, server errors, too slow) than
``data.sdss.max_failed_fraction`` accepts fails the job with a message naming the server, the
count and the reasons. Snakemake then removes the job's outputs, so running the same command again
runs this job again, which fetches only what is not already on disk and valid.
"""

from agn_saliency.acquire.download import DownloadFailed
from agn_saliency.stages.all import DOWNLOAD_TRANSPORT_KEYS, download_shard

main = download_shard  # keyword-only: catalog, manifest_out, inventory_out, shard, n_shards, data_root, base_url, …


def from_rule(sm) -> dict:
    # How files are fetched (connections, timeouts, retries, back-off, throughput deadline) and how
    # many failures a shard accepts never change which files arrive or their bytes: they are read
    # from the config here, deliberately not passed as params, so that changing them does not rerun
    # finished downloads and everything after them (Snakemake reruns a job when a param changes,
    # never for a value its script reads from snakemake.config).
    sdss, p = sm.config["data"]["sdss"], sm.params
    return dict(
        catalog=sm.input.catalog, manifest_out=sm.output.manifest, inventory_out=sm.output.inventory, shard=p.shard,
        n_shards=p.n_shards, data_root=p.data_root, base_url=p.base_url,
        transport={key: sdss[key] for key in DOWNLOAD_TRANSPORT_KEYS}, max_failed_fraction=sdss["max_failed_fraction"],
        seed=int(sm.config["seed"]) + p.shard,  # back-off jitter only
    )  # fmt: skip


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), from_rule, errors=(DownloadFailed,))
