"""A long-running worker gives its free heap pages back (harness.memory)."""

from __future__ import annotations

import ctypes

import pytest

from iamrefine.harness.memory import PeriodicRelease, release_free_memory

GLIBC = release_free_memory()
needs_glibc = pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@needs_glibc
def test_free_pages_below_a_live_block_go_back() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size, count = 4096, 16_000  # 64 MB in blocks glibc serves from its heap
    blocks = []
    for _ in range(count):
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        blocks.append(block)
    keeper = blocks.pop()  # in use at the heap's top: glibc cannot shrink the heap by itself
    for block in blocks:
        libc.free(block)
    before = _resident_mb()
    assert release_free_memory()
    after = _resident_mb()
    libc.free(keeper)
    assert before - after > 40, (before, after)


@needs_glibc
def test_released_every_nth_case() -> None:
    release = PeriodicRelease(every=3)
    assert [release.case_done() for _ in range(7)] == [False, False, True] * 2 + [False]
    assert release.count == 7


def test_memo_caches_are_emptied_with_the_memory() -> None:
    from iamrefine.glob import compile_glob
    from iamrefine.partition import lower_pattern

    compile_glob("s3:Get*Object", fold_case=True)
    lower_pattern("S3:Get*Object")
    assert compile_glob.cache_info().currsize and lower_pattern.cache_info().currsize
    release = PeriodicRelease(every=2)
    release.case_done()
    assert compile_glob.cache_info().currsize and lower_pattern.cache_info().currsize
    release.case_done()
    assert compile_glob.cache_info().currsize == lower_pattern.cache_info().currsize == 0


def test_the_names_a_pattern_matches_are_forgotten_too() -> None:
    from iamrefine.catalog import Catalog
    from iamrefine.memo import forget_all
    from iamrefine.partition import catalog_index

    index = catalog_index(
        Catalog.from_names(["s3:GetObject", "s3:PutObject", "ec2:RunInstances"], source="test")
    )
    assert len(index.matching("s3:get*")) == 1
    assert index._cache
    forget_all()
    assert not index._cache
    assert len(index.matching("s3:get*")) == 1


KEEP_CODE = """
import ctypes, resource
from iamrefine.harness.memory import keep_freed_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(-3, 128 * 1024)  # glibc's default, made fixed: 16 MB blocks are mapped anew

def faults(rounds=8, size=16 << 20):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
assert keep_freed_memory()
after = faults()
print(before, after)
"""


@needs_glibc
def test_freed_blocks_are_kept_for_the_next_case() -> None:
    # In a child process: the setting is process-wide.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", KEEP_CODE], capture_output=True, text=True, check=True
    )
    before, after = map(int, done.stdout.split())
    pages = (16 << 20) // 4096
    assert before >= 8 * pages * 0.9, (before, after)
    assert after <= 2 * pages, (before, after)
