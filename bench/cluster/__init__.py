"""`make cluster`: a real multi-replica deployment (Redis, replicas, simulator, HAProxy) on
loopback; product packages never import it."""
