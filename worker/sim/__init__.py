"""A local Kling API simulator: the official (`kling`) and product-guide (`guide`) dialects.

`kbatch sim` serves it over HTTP; `worker.sim.process.running_simulator` starts it as a
subprocess for tests, the demo and benchmarks. Nothing here is used when talking to the real API.
"""
