"""The one build step pyproject.toml cannot state stably: the semantic index's Hamming kernels
(cache/_hamming.c, loaded with ctypes by cache/hamming.py). Optional: without a C compiler the
install goes on and the index keeps its numpy passes."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "cache._hamming", sources=["cache/_hamming.c"], extra_compile_args=["-O3"], optional=True
        )
    ]
)
