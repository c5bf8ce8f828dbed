"""Export a trained run to ONNX, prove it behaves like PyTorch on real data, and package it.

``export_run(run_dir, out)`` writes a self-contained folder::

    OUT/
      onnx/model.onnx [+ model.onnx.data]   fp32, task input/output names, dynamic batch (and sequence)
      onnx/model_<variant>.onnx              variants that passed the gate (int8, fp16, optimized)
      onnx/model*.ort, required_operators.config   with --target ort-mobile
      config.json     everything a deployer needs (labels, preprocessing, variants, preferred one)
      report.json     the validation gate's verdicts for every variant, kept or rejected (format 1)
      onnx/test_data_set_0/input_N.pb, output_0.pb  real samples beside model.onnx (ONNX test-runner layout)
      model.safetensors run.json [summary.json metrics.jsonl curves.png confusion.png]
      tokenizer.json tokenizer_config.json special_tokens_map.json   (text models)

``export_ensemble(run_dirs, out, weights=None)`` combines K runs into one such folder whose
graph averages their probabilities (:mod:`hub.exporting.ensemble`). ``validate_export(folder)``
re-runs the gate (all three in :mod:`hub.exporting.pipeline` and :mod:`~hub.exporting.ensemble`; this
package module imports nothing, so no submodule import drags in the others). All raise :class:`GateError` (a :class:`hub.errors.HubError`) on any breach;
there is no "passed with warnings". Heavy imports (torch, onnx, onnxruntime) happen inside the calls.
"""
