"""Rule embed_tsne: the t-SNE map of the task's class set at one perplexity (the set standardised as a whole: …."""

from agn_saliency.entry import run
from agn_saliency.stages.embed import embed_tsne

if __name__ == "__main__":
    run(embed_tsne, globals().get("snakemake"))
