"""Sub-commands of ``biglearn-em``: each module has ``register(subparsers)``
which adds its parser and sets ``run`` to the function that executes it;
:mod:`.options` holds the options they share. Not imported here: the
experiments take their options from :mod:`.options` too, and the ``reproduce``
command imports the experiments."""
