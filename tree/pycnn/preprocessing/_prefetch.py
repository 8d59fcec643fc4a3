"""Thread pools for the image iterators.

Decoding (Pillow releases the GIL) and the numpy augmentation both run off
the main thread, so the next batch is prepared while the current one trains.
"""
import os
from concurrent.futures import ThreadPoolExecutor

_decode_pool = None
_batch_pool = None


def decode_pool():
    """Workers that decode the files of one batch in parallel."""
    global _decode_pool
    if _decode_pool is None:
        _decode_pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                          thread_name_prefix="pycnn-decode")
    return _decode_pool


def batch_pool():
    """Workers that build whole batches ahead of time (one slot per iterator)."""
    global _batch_pool
    if _batch_pool is None:
        _batch_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pycnn-prefetch")
    return _batch_pool
