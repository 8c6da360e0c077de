#!/usr/bin/python3
"""NumPy's way to the diversity min distances, on the data diversity_bench wrote.

Usage: /usr/bin/python3 bench/diversity_numpy.py NPY_DIR [--threads N] [--block-bytes N]
                                                 [--reps N] [--tolerance 1e-4]

Reads NPY_DIR/candidates.npy (C x d float32) and NPY_DIR/labeled.npy (L x d),
computes min over labeled of 1 - dot for every candidate as NumPy code would:
candidate blocks of as many rows as fit a (rows x L) float32 score block in
--block-bytes, each `block @ labeled.T` into a reused buffer then `max(axis=1)`,
and times it (best of --reps). Then checks the result against NPY_DIR/ours.npy
(weakdistill's min_distances) and fails if any value differs by more than
--tolerance. Prints one JSON object: seconds, GFLOP/s (2*C*L*d / s), peak RSS.

Run with Debian's /usr/bin/python3 (python3-numpy, which uses the system BLAS,
OpenBLAS here), not another python3 on PATH. --threads sets OPENBLAS_NUM_THREADS
before NumPy loads.
"""

import argparse
import json
import os
import resource
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npy_dir")
    ap.add_argument("--threads", type=int, default=0, help="OpenBLAS threads (0: its default)")
    ap.add_argument("--block-bytes", type=int, default=64 << 20)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    if args.threads > 0:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np  # after OPENBLAS_NUM_THREADS, which OpenBLAS reads when loaded

    cand = np.load(os.path.join(args.npy_dir, "candidates.npy"))
    lab = np.load(os.path.join(args.npy_dir, "labeled.npy"))
    assert cand.dtype == np.float32 and lab.dtype == np.float32 and cand.shape[1] == lab.shape[1]
    c, d = cand.shape
    l = lab.shape[0]
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = max(1, min(c, args.block_bytes // (4 * l)))
    lab_t = lab.T  # a view: matmul passes it to SGEMM as transposed, no copy
    scores = np.empty((rows, l), dtype=np.float32)

    best = float("inf")
    result = np.empty(c, dtype=np.float32)
    for _ in range(max(1, args.reps)):
        t0 = time.perf_counter()
        for c0 in range(0, c, rows):
            m = min(rows, c - c0)
            block = scores[:m]
            np.matmul(cand[c0 : c0 + m], lab_t, out=block)
            np.max(block, axis=1, out=result[c0 : c0 + m])
        np.subtract(np.float32(1), result, out=result)
        elapsed = time.perf_counter() - t0
        best = min(best, elapsed)
        gflop = 2.0 * c * l * d / 1e9
        print(f"numpy: {elapsed:.2f} s, {gflop / elapsed:.1f} GFLOP/s", file=sys.stderr)

    ours = np.load(os.path.join(args.npy_dir, "ours.npy")).reshape(-1)
    max_diff = float(np.max(np.abs(ours - result))) if c else 0.0
    out = {
        "candidates": c,
        "labeled": l,
        "dim": d,
        "seconds": best,
        "gflops": 2.0 * c * l * d / 1e9 / best,
        "block_rows": rows,
        "block_cols": l,
        "numpy": np.__version__,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "peak_rss_kib_after_data": rss_data,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "max_abs_diff_vs_ours": max_diff,
        "tolerance": args.tolerance,
    }
    print(json.dumps(out, indent=2))
    if not max_diff <= args.tolerance:
        print(f"diversity_numpy.py: results differ from ours by {max_diff} > {args.tolerance}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
