"""Ctrl-C inside a fit, for the tests of what a run keeps when stopped."""

import os
import signal

from skorch.callbacks import Callback


class CtrlC(Callback):
    """Sends this process SIGINT, as Ctrl-C in a terminal does, after every
    batch."""

    def on_batch_end(self, net, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
