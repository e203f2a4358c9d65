"""agn_saliency: classify SDSS AGN spectra with SVMs and explain them with exact saliency maps.

Modules, in the order the pipeline uses them (each imports only from those above it):

``vocabulary`` tasks, kernels, class names and their display order (defined once)
``lines``     rest-frame vacuum line list and line windows
``settings``  whole-configuration checks made before any job runs
``files``     atomic (write-then-rename) outputs, files and folders, with the umask's modes
``parallel``  process pools whose workers die with their job
``fits``      small, fast FITS reader/writer for the HDU kinds SDSS spectra use
``sdss``      read any supported SDSS spectrum file; write DR8+ spec-lite files
``catalog``   labelled catalogs: read, validate
``simulate``  physically modelled embedded sample
``download``  resumable, fault-tolerant SAS download
``reduce``    rest frame, flux-conserving resampling, normalisation, rejection
``cube``      the HDF5 cube: shard files and their bounded-memory merge
``split``     stratified train / validation / test split
``embed``     t-SNE maps
``tsne_svm``  the optional SVM on the t-SNE plane: its decision regions, their file
``classify``  grid-searched SVM pipelines with smooth probability models
``saliency``  exact gradients of class probabilities with respect to the flux
``plotting``  every figure
``stages``    what each workflow rule does, input files → output files (scripts and benchmarks call it)
``entry``     how a workflow script starts: under Snakemake, or on its own with named arguments
"""

__version__ = "0.1.0"

from .vocabulary import CLASS_NAMES, KERNELS, TASK_CLASSES, TASKS  # noqa: F401  (re-exported; defined once there)

MODEL_FORMAT: int = 2
"""Version of what a saved model is (1: the former CalibratedKernelSVC; 2: scikit-learn's calibrated
one-vs-rest SVC behind ``classify.KernelTransformer``). Rule ``search_grid`` has it as a ``params:``
value: Snakemake does not rerun a rule when library code changes, so a new model format must bump it."""
