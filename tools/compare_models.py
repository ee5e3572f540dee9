#!/usr/bin/env python3
"""compare_models.py A.safetensors B.safetensors [--tol T] [--top K]

Relative L2 difference ||a - b|| / ||a|| over all F32 tensors of two model files with the same tensors (weights and
BatchNorm buffers), and the tensors that differ most. Exit 0 when the difference is <= --tol (default 1e-5), 1
otherwise, 2 on unreadable input. Standard library only (used by tests/cli/test_train_mpi.sh)."""
import array, json, math, struct, sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a = array.array("f")
        a.frombytes(data[t["data_offsets"][0]:t["data_offsets"][1]])
        out[name] = a
    return out


def main():
    args = sys.argv[1:]
    tol, top = 1e-5, 5
    if "--tol" in args:
        i = args.index("--tol"); tol = float(args[i + 1]); del args[i:i + 2]
    if "--top" in args:
        i = args.index("--top"); top = int(args[i + 1]); del args[i:i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr); return 2
    try:
        a, b = load(args[0]), load(args[1])
    except (OSError, ValueError, KeyError, struct.error) as e:
        print(f"compare_models: {e}", file=sys.stderr); return 2
    if set(a) != set(b):
        print(f"compare_models: different tensors: {sorted(set(a) ^ set(b))[:5]}", file=sys.stderr); return 2
    num = den = 0.0
    per = []
    for k in sorted(a):
        x, y = a[k], b[k]
        if len(x) != len(y):
            print(f"compare_models: {k}: {len(x)} vs {len(y)} values", file=sys.stderr); return 2
        d = sum((p - q) * (p - q) for p, q in zip(x, y))
        n = sum(p * p for p in x)
        num += d; den += n
        per.append((math.sqrt(d / n) if n > 0 else math.sqrt(d), k))
    rel = math.sqrt(num / den) if den > 0 else math.sqrt(num)
    per.sort(reverse=True)
    print(f"relative L2 difference {rel:.3e} over {len(a)} tensors ({sum(len(v) for v in a.values())} values); "
          f"tolerance {tol:g}")
    for r, k in per[:top]:
        print(f"  {k}: {r:.3e}")
    return 0 if rel <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
