# Writes the .npz files of npz.test into the directory given: the blobs data
# of Inputs/blobs.csv (and blobs.test.csv) as archives, and broken ones.
import os
import sys

import numpy as np

out = sys.argv[1]
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Inputs")
train = np.loadtxt(os.path.join(here, "blobs.csv"), delimiter=",", skiprows=1, dtype=np.float64)
test = np.loadtxt(os.path.join(here, "blobs.test.csv"), delimiter=",", skiprows=1, dtype=np.float64)
x, y = train[:, :-1].astype(np.float32), train[:, -1].astype(np.uint8)
xt, yt = test[:, :-1], test[:, -1].astype(np.int64)
np.savez(f"{out}/blobs.npz", x=x, y=y, x_test=xt, y_test=yt)
np.savez_compressed(f"{out}/blobs_compressed.npz", x=x, y=y.astype(np.int32), x_test=xt.astype(np.float32), y_test=yt)
np.savez(f"{out}/train_only.npz", x=x, y=y)
np.savez(f"{out}/no_y.npz", x=x)
np.savez(f"{out}/rows.npz", x=x, y=y[:-1])
np.savez(f"{out}/fractional.npz", x=x, y=np.full(len(y), 0.5))
np.savez(f"{out}/fortran.npz", x=np.asfortranarray(x), y=y)
np.savez(f"{out}/bigendian.npz", x=x.astype(">f4"), y=y)
data = open(f"{out}/blobs.npz", "rb").read()
open(f"{out}/truncated.npz", "wb").write(data[: len(data) // 2])
flipped = bytearray(open(f"{out}/blobs_compressed.npz", "rb").read())
flipped[200] ^= 0xFF  # inside the first deflated entry
open(f"{out}/flipped.npz", "wb").write(bytes(flipped))
