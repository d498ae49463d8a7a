"""
Recovers PyTorch state dicts from flowbot's exported ONNX files, so that training can resume from the
shipped weights when the checkpoints of the run that made them are gone (they are not committed).

The exporter renames some weights (a Linear's transposed matrix becomes `onnx::MatMul_N`, a group norm's
scale and shift become `onnx::Mul_N` / `onnx::Add_N` of shape [C, 1, 1]). Rather than guess that naming,
`recover` exports a fresh module of the same architecture whose every parameter holds distinct random
values, finds which parameter (as is, transposed or reshaped) each exported initializer came from, and
reads the shipped file through that map. It refuses when any parameter is left unmatched.
"""
import inspect
import io

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def _initializers(model_proto):
    return {i.name: numpy_helper.to_array(i) for i in model_proto.graph.initializer}


def _candidates(value):
    """The forms in which the exporter stores a tensor: as is, transposed (MatMul) or as [C, 1, 1]."""
    forms = [value]
    if value.ndim == 2:
        forms.append(value.T)
    if value.ndim == 1:
        forms.append(value.reshape(-1, 1, 1))
    return forms


# torch >= 2.9 defaults to the torch.export-based exporter; the recovery traces with the legacy one.
LEGACY_EXPORTER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def _export(module, inputs, names_in, names_out, dynamic):
    buffer = io.BytesIO()
    torch.onnx.export(module, inputs, buffer, input_names=names_in, output_names=names_out, dynamic_axes=dynamic,
                      opset_version=17, do_constant_folding=True, **LEGACY_EXPORTER)
    return onnx.load_from_string(buffer.getvalue())


def recover(module, shipped_file, inputs, names_in, names_out, dynamic, seed=0):
    """Loads the weights of `shipped_file` into `module` (same architecture as the one exported there)."""
    generator = torch.Generator().manual_seed(seed)
    state = module.state_dict()
    probe = {k: (torch.rand(v.shape, generator=generator) + 0.5 if v.dtype.is_floating_point else v) for k, v in state.items()}
    module.load_state_dict(probe)
    module.eval()
    exported = _initializers(_export(module, inputs, names_in, names_out, dynamic))
    shipped = _initializers(onnx.load(shipped_file))
    missing = sorted(set(exported) - set(shipped))
    if missing:
        raise SystemExit(f"{shipped_file}: the architecture differs (initializers {missing[:3]} not found)")
    recovered = {}
    for key, value in probe.items():
        if not value.dtype.is_floating_point:
            continue
        array = value.numpy()
        found = None
        for name, exported_value in exported.items():
            for form_index, form in enumerate(_candidates(array)):
                if form.shape == exported_value.shape and np.array_equal(form, exported_value):
                    found = (name, form_index)
                    break
            if found:
                break
        if found is None:
            raise SystemExit(f"{shipped_file}: no initializer holds parameter {key}")
        name, form_index = found
        stored = shipped[name]
        if form_index == 1:
            stored = stored.T
        recovered[key] = torch.from_numpy(np.ascontiguousarray(stored.reshape(array.shape))).to(value.dtype)
    for key, value in probe.items():
        if key not in recovered:
            # Integer buffers (the id map) are stored as they are.
            recovered[key] = torch.from_numpy(shipped[key]).to(value.dtype) if key in shipped else state[key]
    module.load_state_dict(recovered)
    return module
