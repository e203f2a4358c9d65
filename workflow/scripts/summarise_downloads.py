"""Rule summarise_downloads: total ok / missing / failed / cached over all download shards."""

from agn_saliency.stages.all import summarise_downloads

main = summarise_downloads  # keyword-only: manifests, summary_out

if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(manifests=list(sm.input.manifests), summary_out=sm.output.summary))
