"""``frugal load``: a load generator for the gateway, its workload files and its report."""
