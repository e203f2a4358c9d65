"""agn_saliency: classify AGN spectra with SVMs and explain them with exact saliency maps.

Subpackages, in the order the pipeline uses them; each imports only from the floors above it
(``tests/test_layers.py`` checks this):

``core``      vocabulary, line list, logging, worker pools, atomic files
``io``        FITS, ECSV tables, the HDF5 cube, saved models
``spectra``   survey readers, reduction onto the rest-frame grid, the AGN gate
``acquire``   catalogs, folder inventories, SAS downloads, the embedded (simulated) sample
``learn``     split, kernels, grid-searched SVMs, t-SNE
``explain``   exact gradients, attribution methods, saliency files, faithfulness checks
``predict``   classify and explain a folder of new spectra; the out-of-distribution score
``plotting``  every figure (the house style applied while drawing; no global matplotlib state)
``stages``    one function per workflow rule: input files → output files
``settings``  whole-configuration checks made before any job runs
``entry``     how a workflow script calls its stage function
"""

__version__ = "0.1.0"
