"""Sub-commands of ``biglearn-em``: each module has ``register(subparsers)``
which adds its parser and sets ``run`` to the function that executes it."""

from . import model, reproduce, select

COMMANDS = (reproduce.register, model.register, select.register)
