"""Rule predict_shard: reduce, gate, classify and explain the files of one shard of ``folder``."""

from agn_saliency.entry import run
from agn_saliency.predict.contract import ModelContractError
from agn_saliency.stages.predict import predict_shard

if __name__ == "__main__":
    run(predict_shard, globals().get("snakemake"), errors=(ModelContractError,))
