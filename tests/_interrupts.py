"""Ctrl-C inside a fit, for the tests of what a run keeps when stopped."""

import os
import signal

from skorch.callbacks import Callback


class CtrlC(Callback):
    """Sends this process SIGINT, as Ctrl-C in a terminal does, after every
    batch."""

    def on_batch_end(self, net, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)


def interrupting(make_method, method):
    """``make_method`` whose pipeline for ``method`` presses Ctrl-C during
    its fit (the network is the pipeline's last step)."""

    def wrapped(name, **kwargs):
        pipeline = make_method(name, **kwargs)
        if name == method:
            net = pipeline[-1]
            net.set_params(callbacks=[*(net.callbacks or []), ("ctrl_c", CtrlC())])
        return pipeline

    return wrapped
