"""Reference outputs of Keras's EfficientNet-B0 with 5 input channels, for
crates/cellpaint-core/tests/keras_reference.rs: our EfficientNet built as Keras builds it
(`EfficientNetConfig::keras_b0`: TensorFlow "same" padding, batch-norm eps 1e-3) must give
Keras's outputs, and a Keras HDF5 weight file must load into it.

Weights come from the formula of scripts/efficientnet_reference.py (the same functions, copied
here because that script needs torch), evaluated for each Keras variable under its torchvision
name and shape (the map below mirrors `keras_to_torchvision` in
crates/cellpaint-core/src/efficientnet/weights.rs) and transposed to Keras's layout, so the
Rust test sets the same weights by name without any file. Batch-norm statistics are the
formula's too (no calibration pass). The input is formula("input", N×5×H×W) in NCHW; Keras
takes it as NHWC times 255, since its EfficientNetB0 divides by 255 first (its normalization
layer is the identity without ImageNet weights).

Writes fixtures/keras_efficientnet_reference.json:
* "b0": EfficientNetB0(weights=None, input 128×128×5, 7 classes): logits, block6a_activation
  (spatial mean) and avg_pool on a 2-image input;
* "tiny": keras's EfficientNet(width 0.1, depth 1.0: all 16 blocks) on 32×32×5, 7 classes:
  logits and avg_pool;
and fixtures/keras_efficientnet_tiny.h5.gz, the tiny model's weights as Keras's legacy HDF5
weight format writes them (the layout of Keras 2's save_weights and of DeepProfiler's published
Cell_Painting_CNN_v1.hdf5), gzipped (its empty group B-trees are most of its 0.5 MB; its weights are the formula's
rounded to multiples of 1/16 so that they compress: the Rust test reads them from the file).

Run (not in CI):  pip install tensorflow-cpu h5py && python3 scripts/keras_reference.py
      [--save-b0 B0.h5]   also writes the full B0 weights (16 MB) for a manual check.
"""
import gzip, json, math, os, re, shutil, sys
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import h5py
import keras
from keras.src.applications.efficientnet import EfficientNet
from keras.src.legacy.saving import legacy_h5_format

def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode():
        h ^= b
        h = (h * 0x01000193) % 2**32
    return h

def splitmix64(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

def formula(name, shape, lo, hi):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    z = splitmix64((np.uint64(fnv1a32(name)) << np.uint64(32)) ^ i)
    u = (z >> np.uint64(11)).astype(np.float64) / 2.0**53
    return (lo + (hi - lo) * u).astype(np.float32).reshape(shape)

def value_range(name, shape):
    if name.endswith("running_var"):
        return 0.6, 1.4
    if name.endswith("running_mean") or name.endswith("bias"):
        return -0.1, 0.1
    if len(shape) == 1:
        return 0.8, 1.2
    b = math.sqrt(3.0 / int(np.prod(shape[1:])))
    return -b, b

PARAM = {"kernel": "weight", "gamma": "weight", "bias": "bias", "beta": "bias",
         "moving_mean": "running_mean", "moving_variance": "running_var"}
TOP = {"stem_conv": "features.0.0", "stem_bn": "features.0.1", "top_conv": "features.8.0",
       "top_bn": "features.8.1", "predictions": "classifier.1"}
STAGE1 = {"dwconv": "0.0", "bn": "0.1", "se_reduce": "1.fc1", "se_expand": "1.fc2",
          "project_conv": "2.0", "project_bn": "2.1"}
LATER = {"expand_conv": "0.0", "expand_bn": "0.1", "dwconv": "1.0", "bn": "1.1",
         "se_reduce": "2.fc1", "se_expand": "2.fc2", "project_conv": "3.0", "project_bn": "3.1"}

def torch_name(layer, var):
    p = PARAM[var]
    if layer in TOP:
        return f"{TOP[layer]}.{p}"
    m = re.fullmatch(r"block(\d+)([a-z])_(.+)", layer)
    stage, index, sub = int(m[1]), ord(m[2]) - ord("a"), m[3]
    inner = (STAGE1 if stage == 1 else LATER)[sub]
    return f"features.{stage}.{index}.block.{inner}.{p}"

def set_formula_weights(model, quantize=False):
    for layer in model.layers:
        if layer.name.startswith("normalization"):
            continue
        for w in layer.weights:
            var = w.path.split("/")[-1]
            shape = tuple(w.shape)
            if len(shape) == 4 and layer.name.endswith("_dwconv"):   # (kh, kw, c, 1)
                tshape = (shape[2], 1, shape[0], shape[1]); back = (2, 3, 0, 1)
            elif len(shape) == 4:                                     # (kh, kw, in, out)
                tshape = (shape[3], shape[2], shape[0], shape[1]); back = (2, 3, 1, 0)
            elif len(shape) == 2:                                     # (in, out)
                tshape = (shape[1], shape[0]); back = (1, 0)
            else:
                tshape = shape; back = None
            name = torch_name(layer.name, var)
            v = formula(name, tshape, *value_range(name, tshape))
            if quantize:   # few distinct values: the committed file compresses
                v = (np.round(v * 16) / 16).astype(np.float32)
            w.assign(v.transpose(back) if back else v)

def outputs(model, x_nchw, taps):
    sub = keras.Model(model.inputs, [model.get_layer(t).output for t in taps] + [model.output])
    x = np.transpose(x_nchw, (0, 2, 3, 1)) * np.float32(255.0)
    outs = sub(x, training=False)
    res = {}
    for t, o in zip(taps + ["logits"], outs):
        o = np.asarray(o, dtype=np.float64)
        res[t if o.ndim == 2 else t + "_mean"] = (o if o.ndim == 2 else o.mean(axis=(1, 2))).tolist()
    return res

def main():
    root = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    b0 = keras.applications.EfficientNetB0(include_top=True, weights=None, input_shape=(128, 128, 5),
                                           classes=7, classifier_activation=None)
    set_formula_weights(b0)
    out = {"keras": keras.__version__,
           "b0": outputs(b0, formula("input", (2, 5, 128, 128), -1.0, 1.0),
                         ["block6a_activation", "avg_pool"])}
    if "--save-b0" in sys.argv:
        with h5py.File(sys.argv[sys.argv.index("--save-b0") + 1], "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, b0)
    tiny = EfficientNet(0.1, 1.0, 32, name="tiny", include_top=True, weights=None,
                        input_shape=(32, 32, 5), classes=7, classifier_activation=None)
    set_formula_weights(tiny, quantize=True)
    out["tiny"] = outputs(tiny, formula("input", (2, 5, 32, 32), -1.0, 1.0), ["avg_pool"])
    with open(os.path.join(root, "keras_efficientnet_reference.json"), "w") as f:
        json.dump(out, f)
    tmp = os.path.join(root, "keras_efficientnet_tiny.h5")
    with h5py.File(tmp, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, tiny)
    with open(tmp, "rb") as src, gzip.GzipFile(tmp + ".gz", "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    os.remove(tmp)
    print("b0 logits", out["b0"]["logits"][0][:3], "tiny logits", out["tiny"]["logits"][0][:3])
    print("tiny .h5.gz", os.path.getsize(tmp + ".gz"), "bytes")

main()
