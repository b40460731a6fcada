"""The serial simulator's physical world: stack model, scenarios, truth, emulators, sim bus.

``scenario.load`` reads what the stack does; ``simbus.World`` holds simulated time and the model;
``truth.Truth`` integrates the true CO2 mass; ``simbus.SimBus`` and the ``emulators`` answer the
device over pseudo-terminals served by ``pty.Hub``. The runner (``runner.py``) wires them to the
firmware; docs/simulator.md describes the physics, the scenario keys, faults and the bridge.
"""
