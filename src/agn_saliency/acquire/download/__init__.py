"""Resumable, fault-tolerant download of SDSS and SDSS-V spec-lite files from the SAS and of DESI
healpix coadd + redrock files from a DESI public release.

:func:`download_shard` fetches the spec-lite file of every row with a pool of threads. The HTTP
work is done by :mod:`requests` (on :mod:`urllib3`): each thread has its own
:class:`requests.Session` holding one persistent (keep-alive) connection per server, which also
brings proxies from the environment (``https_proxy``/``http_proxy``/``all_proxy``/``no_proxy``),
redirects and certificate checks. Files are written to ``data_root/<SAS relative path>``,
mirroring the SAS layout (see :func:`agn_saliency.spectra.sdss.spec_lite_relpath`).

Guarantees
----------
* **No half-written file ever looks finished.** Each body is streamed to a temporary file in the
  destination folder (``.<name>.<host>.<pid>.<token>.tmp``), flushed to disk, checked (size equals
  ``Content-Length``; the whole FITS structure is present; :func:`agn_saliency.spectra.sdss.read_spectrum`
  parses it and it holds the requested plate/MJD/fiber), and only then renamed. A file that fails
  a check is deleted. Temporary files left by a killed run (its process no longer alive on this
  host) are removed by the next run.
* **Resumable.** A file already present and valid is not fetched again (status ``ok``,
  ``cached=True``, size and SHA-256 recomputed from disk); a present but corrupt file is fetched
  again.
* **Fault tolerant.** Connection errors and HTTP 5xx/408/425/429 are retried by
  :class:`urllib3.util.Retry`; timeouts, resets, short bodies, transfers that are too slow and an
  HTML page answered with status 200 (a login, maintenance or proxy error page) are retried by
  this package. Both draw on one budget of ``retries`` further attempts per file and wait the same
  exponential back-off with (seeded) jitter, honouring ``Retry-After``. HTTP 404/410 give status
  ``missing`` (not retried); other 4xx give ``failed`` with the reason.
* **Bounded.** Besides the socket timeout (connecting, and the wait for each next piece), every
  attempt has a deadline: once ``throughput_grace_s`` seconds have passed since the request, the
  body bytes received so far must average at least ``min_throughput_bytes_s`` since the request,
  otherwise the attempt is abandoned as "too slow" (and retried). The response headers therefore
  have to arrive within the grace period, and a server that trickles a byte at a time — headers
  or body — cannot hold a connection for hours (the ``(connect, read)`` timeout of requests only
  bounds the gap between two pieces). A watchdog thread shuts the socket of an attempt past its
  deadline down, so a read blocked inside :mod:`http.client` returns at once.
* **Judged.** :func:`check_failures` raises :class:`DownloadFailed`, naming the server, the count
  and the reasons, when more of a shard failed than the caller accepts.
* **Confined.** Every destination is resolved and checked to lie inside ``data_root``; identifiers
  are validated with the catalog rules (:mod:`agn_saliency.acquire.catalog`) before anything is fetched.

Requests to ``localhost``/``127.0.0.1``/``::1`` never go through a proxy.

Modules
-------
``shard``       :func:`download_shard`: a shard's rows checked, fetched by a pool of threads
``downloader``  one file: request, retries and back-off, streaming, verification, rename
``transport``   requests/urllib3 connections that report to the watchdog
``deadlines``   each attempt's clock and the watchdog thread
``errors``      how an attempt ends and the plain reason of a failure
``files``       :func:`verify_spectrum_file`, temporary names, stale temporaries
``manifest``    :class:`ManifestEntry`, the manifest table, :func:`summarize`, :func:`check_failures`

Every public name is importable from this package.
"""

from agn_saliency.acquire.download.downloader import (
    CHUNK_BYTES,
    DRAIN_LIMIT_BYTES,
    MAX_REDIRECTS,
    MISSING_STATUSES,
    RETRY_STATUSES,
    USER_AGENT,
)
from agn_saliency.acquire.download.files import (
    desi_targetids,
    glob_escape,
    remove_stale_temporaries,
    verify_desi_file,
    verify_sdss5_file,
    verify_spectrum_file,
)
from agn_saliency.acquire.download.manifest import (
    MANIFEST_COLUMNS,
    STATUSES,
    DownloadFailed,
    ManifestEntry,
    check_failures,
    failure_reasons,
    read_manifest,
    summarize,
    write_manifest,
)
from agn_saliency.acquire.download.shard import (
    DEFAULT_BASE_URL,
    DEFAULT_DESI_BASE_URL,
    LOG,
    desi_local_prefix,
    desi_relpath,
    download_shard,
    row_files,
)

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_BASE_URL",
    "DEFAULT_DESI_BASE_URL",
    "DRAIN_LIMIT_BYTES",
    "LOG",
    "MANIFEST_COLUMNS",
    "MAX_REDIRECTS",
    "MISSING_STATUSES",
    "RETRY_STATUSES",
    "STATUSES",
    "USER_AGENT",
    "DownloadFailed",
    "ManifestEntry",
    "check_failures",
    "desi_local_prefix",
    "desi_relpath",
    "desi_targetids",
    "download_shard",
    "failure_reasons",
    "glob_escape",
    "read_manifest",
    "remove_stale_temporaries",
    "row_files",
    "summarize",
    "verify_desi_file",
    "verify_sdss5_file",
    "verify_spectrum_file",
    "write_manifest",
]
