"""``python -m bench faults``: the fault-injection run that checks money and identity hold
(two replicas, one Redis paused and killed, provider faults, hostile callers); see
`bench.faults.run`."""
