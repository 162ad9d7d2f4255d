"""Running skood on more than one core or machine: torch's thread budget, and scoring
arrays larger than memory block by block (on a Dask cluster when one is running).

Searches need nothing from this module: skood's estimators pickle as CPU state and
each fit draws from its own random streams, so ``GridSearchCV`` and
``cross_validate`` give the same results under ``joblib.parallel_backend("dask")``
(or ``"threading"``) as with ``n_jobs=1``. What this module adds:

- :func:`torch_threads` and :func:`set_torch_threads`: torch's intra-op threads per
  task, so that the tasks running at once on a machine do not use more threads than
  it has cores (oversubscribed, oneDNN's convolutions slow down many times over);
- :func:`score_blocks`: ``score_samples``, ``decision_function`` or ``predict`` of a
  fitted estimator over a chunked Dask array (lazily, one task per block, the model
  shipped to each worker once) or a ``numpy.memmap`` (block by block; on the workers
  when a Dask client is running, which read their blocks from the file).

Dask is optional (``pip install skood[distributed]``); only the functions that need
it import it.
"""

import os
from numbers import Integral

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

__all__ = ["available_cores", "score_blocks", "set_torch_threads", "torch_threads"]

_METHODS = ("score_samples", "decision_function", "predict")
#: Rows per block when scoring a NumPy array or memmap (a Dask array keeps its chunks).
DEFAULT_BLOCK_ROWS = 65536


def available_cores():
    """The cores this process may run on (its CPU affinity, else ``os.cpu_count()``).

    Returns
    -------
    n_cores : int

    Examples
    --------
    >>> from skood.parallel import available_cores
    >>> available_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def torch_threads(n_concurrent=1, n_cores=None):
    """The thread budget rule: torch threads per task when ``n_concurrent`` tasks run at
    once on ``n_cores`` cores, ``max(1, n_cores // n_concurrent)``.

    Use it for joblib's threading or loky backends (``n_concurrent=n_jobs``) and for
    Dask workers (``n_concurrent`` = the Dask threads on the machine: workers times
    threads per worker); :func:`set_torch_threads` applies it on a cluster.

    Parameters
    ----------
    n_concurrent : int, default=1
        Tasks that run torch at the same time on the machine.
    n_cores : int or None, default=None
        Cores of the machine; ``None``: those this process may run on.

    Returns
    -------
    n_threads : int

    Examples
    --------
    >>> from skood.parallel import torch_threads
    >>> torch_threads(2, n_cores=16)
    8
    >>> torch_threads(5, n_cores=2)  # more tasks than cores: one thread each
    1
    """
    for name, value in (("n_concurrent", n_concurrent), ("n_cores", n_cores)):
        if value is not None and (not isinstance(value, Integral) or isinstance(value, bool)
                                  or value < 1):
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    cores = available_cores() if n_cores is None else int(n_cores)
    return max(1, cores // int(n_concurrent))


def _set_worker_threads(n_threads, threads_per_host, dask_worker=None):
    if n_threads is None:
        host = dask_worker.address.rsplit(":", 1)[0].split("://")[-1]
        n_threads = torch_threads(threads_per_host.get(host, 1))
    torch.set_num_threads(n_threads)
    return torch.get_num_threads()


def set_torch_threads(client=None, n_threads=None):
    """Set torch's intra-op threads on every worker of a Dask cluster.

    By default each worker gets :func:`torch_threads` of its machine: its cores
    divided by the Dask threads of all the workers on that machine, so that the
    tasks running at once use each core once. Dask's nanny already starts workers
    with ``OMP_NUM_THREADS=1`` (one torch thread per task: never oversubscribed, but
    a machine with fewer Dask threads than cores leaves cores idle); call this after
    the workers have started, and again after adding workers.

    Parameters
    ----------
    client : distributed.Client or None, default=None
        ``None``: the current client (:func:`distributed.get_client`).
    n_threads : int or None, default=None
        The same number of threads on every worker instead of the rule.

    Returns
    -------
    threads : dict
        Worker address -> torch threads it now uses.
    """
    if n_threads is not None and (not isinstance(n_threads, Integral)
                                  or isinstance(n_threads, bool) or n_threads < 1):
        raise ValueError(f"n_threads must be a positive integer or None; got {n_threads!r}.")
    client = _client(client, required=True)
    per_host = {}
    for worker in client.scheduler_info()["workers"].values():
        host = worker["host"]
        per_host[host] = per_host.get(host, 0) + int(worker["nthreads"])
    return client.run(_set_worker_threads, n_threads, per_host)


def _client(client, required=False):
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:
        if required:
            raise ImportError("A Dask cluster needs dask.distributed: "
                              "pip install 'skood[distributed]'.") from None
        return None
    try:
        return get_client()
    except ValueError:
        if required:
            raise ValueError("No Dask client is running: create one with "
                             "distributed.Client(<scheduler address>) or pass client=.") \
                from None
        return None


class _MemmapBlocks:
    """A memory-mapped file as an array-like that pickles as its description, not its
    data: each block is read from the file by whoever indexes it (a Dask worker)."""

    def __init__(self, mm):
        base = mm
        while not isinstance(base, np.memmap) or base.filename is None:
            base = base.base
            if base is None:
                raise ValueError("Cannot locate the file behind this memmap.")
        if mm is not base and not (mm.shape == base.shape and mm.strides == base.strides):
            raise ValueError("Pass the numpy.memmap itself, not a view of part of it.")
        self.filename = base.filename
        self.offset = base.offset
        self.dtype = base.dtype
        self.shape = base.shape
        self.order = "F" if base.flags.f_contiguous and not base.flags.c_contiguous else "C"
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        mm = np.memmap(self.filename, dtype=self.dtype, mode="r", offset=self.offset,
                       shape=self.shape, order=self.order)
        return np.array(mm[key])


def _score_block(block, estimator, method):
    return np.asarray(getattr(estimator, method)(block))


def _check_method(estimator, method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if not hasattr(estimator, method):
        raise TypeError(f"{type(estimator).__name__} has no {method} method.")
    check_is_fitted(estimator)


def score_blocks(estimator, X, method="score_samples", *, block_rows=None, client=None):
    """A fitted estimator's per-sample output over an array larger than memory.

    - ``X`` a chunked :class:`dask.array.Array`: a lazy Dask array of the outputs,
      one task per block of rows (columns are gathered into one chunk). The model
      enters the task graph once, so each worker receives it once (with a Dask
      client it is scattered to the workers first); ``.compute()`` on a cluster
      scores there. Memory per task is bounded by the block size.
    - ``X`` a :class:`numpy.memmap` or ndarray: a NumPy array, computed block by block
      of ``block_rows`` rows. With a running Dask client (or ``client=``) the blocks
      are scored on the workers; a memmap's workers read their blocks from its file
      (which must be at the same path for them: a local cluster or a shared disk).

    The outputs equal ``getattr(estimator, method)(X)`` on the whole array in
    memory: skood's estimators score each row independently of the others.

    Parameters
    ----------
    estimator : fitted estimator
        A skood density or detector (any estimator with the method).
    X : dask array, numpy.memmap or ndarray of shape (n_samples, n_features)
    method : {"score_samples", "decision_function", "predict"}, default="score_samples"
    block_rows : int or None, default=None
        Rows per block for NumPy input (default 65536); ignored for a Dask array,
        whose row chunks are the blocks.
    client : distributed.Client or None, default=None
        NumPy input: the cluster to score on; ``None``: the current client if there
        is one, else this process.

    Returns
    -------
    output : dask array or ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skood.density import TabularFlowDensity
    >>> from skood.parallel import score_blocks
    >>> X = np.random.RandomState(0).normal(size=(1000, 3))
    >>> flow = TabularFlowDensity(n_layers=2, max_epochs=2, random_state=0).fit(X[:200])
    >>> scores = score_blocks(flow, X, block_rows=300)
    >>> bool(np.array_equal(scores, flow.score_samples(X)))
    True
    """
    _check_method(estimator, method)
    if block_rows is not None and (not isinstance(block_rows, Integral)
                                   or isinstance(block_rows, bool) or block_rows < 1):
        raise ValueError(f"block_rows must be a positive integer or None; got {block_rows!r}.")
    if _is_dask_array(X):
        return _score_dask(estimator, X, method, client)
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    rows = DEFAULT_BLOCK_ROWS if block_rows is None else int(block_rows)
    client = _client(client)
    if client is None:
        parts = [_score_block(np.asarray(X[i:i + rows]), estimator, method)
                 for i in range(0, X.shape[0], rows)]
        return np.concatenate(parts) if parts else getattr(estimator, method)(X[:0])
    import dask.array as da

    source = _MemmapBlocks(X) if isinstance(X, np.memmap) else X
    blocks = da.from_array(source, chunks=(rows, X.shape[1]), asarray=False,
                           name=False if isinstance(X, np.memmap) else None)
    return _score_dask(estimator, blocks, method, client).compute()


def _is_dask_array(X):
    try:
        import dask.array as da
    except ImportError:
        return False
    return isinstance(X, da.Array)


def _score_dask(estimator, X, method, client):
    import dask
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    # The output type from two rows, in this process (also checks X fits the model).
    probe = _score_block(np.asarray(X[:2].compute()), estimator, method)
    client = _client(client)
    if client is not None:
        model = client.scatter(estimator, broadcast=True, hash=True)
    else:
        model = dask.delayed(estimator, pure=True, traverse=False)
    return da.map_blocks(_score_block, X, model, method, dtype=probe.dtype, drop_axis=1,
                         meta=np.empty((0,), dtype=probe.dtype))
