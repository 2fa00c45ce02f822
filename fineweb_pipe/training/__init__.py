"""The bundled training module: loaders over token shards and a small GPT, in PyTorch and JAX.

torch and jax are optional extras (``pip install fineweb-pipe[train]``): nothing here imports them at
package import; import ``fineweb_pipe.training.torch_data`` / ``.model`` / ``.train`` (torch) or
``.jax_model`` (jax) when you need them. ``windows`` and ``batches`` are plain numpy.
"""
