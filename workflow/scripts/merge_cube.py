"""Rule merge_cube: merge reduced shards into one HDF5 cube, its spectra table and one rejected.ecsv."""

from agn_saliency.stages.all import cube_provenance, merge_cube


def main(
    *, shards: list[str], rejected_parts: list[str], cube_out: str, rejected_out: str, spectra_out: str, provenance: dict
) -> None:
    merge_cube(
        shards=shards, rejected_parts=rejected_parts, cube_out=cube_out, rejected_out=rejected_out, spectra_out=spectra_out,
        provenance=provenance,
    )  # fmt: skip


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        shards=list(sm.input.shards), rejected_parts=list(sm.input.rejected), cube_out=sm.output.cube,
        rejected_out=sm.output.rejected, spectra_out=sm.output.spectra,
        provenance=cube_provenance(sm.config),  # metadata, deliberately not a params: value (see cube_provenance)
    ))  # fmt: skip
