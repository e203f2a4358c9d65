"""Rule split_sample: stratified train / validation / test split by spectrum id."""

from agn_saliency.stages.all import split_sample

main = split_sample  # keyword-only: cube, split_out, test_fraction, validation_fraction, seed

if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cube=sm.input.cube, split_out=sm.output.split, test_fraction=sm.params.test_fraction,
        validation_fraction=sm.params.validation_fraction, seed=sm.params.seed,
    ))  # fmt: skip
