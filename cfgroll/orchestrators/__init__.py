"""How a release is started and judged: the Compose project (and its health gate) or the
Swarm stack, behind one interface."""
