"""What ``compile`` sets up: one loss per output, loss weights, metrics, and the fused gradient."""

import weakref

from dendrite import losses as losses_module
from dendrite import metrics as metrics_module
from dendrite.backend import epsilon
from dendrite.errors import arg_error, check_number
from dendrite.graph import declares


def _per_output(value, names, what):
    """Spread ``value`` (one item, a list in output order, or a dict by output name) over
    outputs."""
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} names unknown outputs {sorted(unknown)}; the "
                             f"model's outputs are {names}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"compile: {what} must have one entry per output ({len(names)}); got "
                             f"{len(value)}")
        return list(value)
    return [value] * len(names) if what == "loss" else [value] + [None] * (len(names) - 1)


def _loss_weights(value, names):
    """One non-negative float per output from None, a number (one output), a list or a dict."""
    if value is None:
        return [1.0] * len(names)
    if isinstance(value, (list, tuple)) and len(names) == 1 and len(value) == 1:
        value = value[0]
    if isinstance(value, (list, tuple, dict)):
        items = _per_output(value, names, "loss_weights")
    elif len(names) == 1:
        items = [value]
    else:
        raise arg_error("compile", "loss_weights", f"a list or dict with one number per output "
                        f"({len(names)})", value)
    return [1.0 if w is None else check_number("compile", "loss_weights", w, low=0,
                                                expected="non-negative numbers") for w in items]


class CompiledLoss:
    """Losses, loss weights and metrics for each output of a model, and their running values.

    Args:
        loss: a loss identifier, or a list/dict of them (one per output).
        loss_weights: None, or a list/dict of floats (one per output).
        metrics: None, a list of metric identifiers (single output), or a list/dict of lists.
        output_names: names of the model's outputs (their layers' names).
    """

    def __init__(self, loss, loss_weights, metrics, output_names):
        if loss is None:
            raise ValueError("compile: loss is required, e.g. loss='categorical_crossentropy'")
        self.output_names = list(output_names)
        self.losses = [losses_module.get(item) for item in _per_output(loss, output_names, "loss")]
        self.loss_weights = _loss_weights(loss_weights, self.output_names)
        if len(output_names) == 1 and metrics is not None and not isinstance(metrics, dict):
            metric_lists = [list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]]
        elif metrics is None:
            metric_lists = [[] for _ in output_names]
        else:
            metric_lists = [m or [] for m in _per_output(metrics, output_names, "metrics")]
            metric_lists = [m if isinstance(m, (list, tuple)) else [m] for m in metric_lists]
        for identifier in (i for group in metric_lists for i in group):
            if isinstance(identifier, str) and identifier not in ("accuracy", "acc"):
                metrics_module.get(identifier)  # an unknown name fails at compile, not in fit
        self.metric_identifiers = metric_lists
        self.metrics = None  # resolved on the first batch, when the shapes are known
        self.fused = [False] * len(self.losses)
        self._caches = [None] * len(self.losses)

    def fuse(self, output_layers):
        """Decide, per output, whether backward can use the loss's fused logit gradient.

        ``output_layers`` holds, per output, the layer whose single output it is (or None). The
        loss's gradient with respect to that layer's pre-activation is handed to the layer's
        ``backward(..., logit_grad=...)``; gradients from the layer's other consumers still go
        through the activation's backward.
        """
        self.fused = [layer is not None and declares(layer, "backward", "logit_grad")
                      and loss.fuses_with(layer.output_activation)
                      for loss, layer in zip(self.losses, output_layers)]

    def _resolve_metrics(self, ys, outputs):
        self.metrics = []
        multi = len(self.output_names) > 1
        for name, identifiers, y, output in zip(self.output_names, self.metric_identifiers, ys,
                                                outputs):
            resolved = []
            for identifier in identifiers:
                metric = metrics_module.get(identifier, y.shape, output.shape)
                label = f"{name}_{metric.name}" if multi else metric.name
                resolved.append((label, metric))
            self.metrics.append(resolved)

    def reset(self):
        self._settle_batch_logs()
        self.total_loss = 0.0
        self.output_totals = [0.0] * len(self.losses)
        self.count = 0
        for group in self.metrics or []:
            for _, metric in group:
                metric.reset_state()

    def forward(self, ys, outputs, sample_weight, penalty, masks=None):
        """The total loss of one batch (weighted losses plus ``penalty``), keeping caches.

        ``masks`` holds, per output, the graph's output mask or None. As in Keras, a masked
        entry gets weight 0 in the loss and the metrics, and with the default reduction the loss
        is the mean over the unmasked entries only.
        """
        if self.metrics is None:
            self._resolve_metrics(ys, outputs)
            self.reset()
        self._settle_batch_logs()
        masks = masks or [None] * len(outputs)
        values, self._caches, metric_weights = [], [], []
        for loss, y, out, mask in zip(self.losses, ys, outputs, masks):
            weights = _mask_weights(sample_weight, mask)
            if mask is not None and loss.reduction == "sum_over_batch_size":
                # weight total/valid on unmasked entries: sum(w * loss) / valid in the end
                loss_weights = weights * (mask.size / (float(mask.sum()) + epsilon()))
            else:
                loss_weights = weights
            value, cache = loss.compute(y, out, loss_weights)
            values.append(value)
            self._caches.append(cache)
            metric_weights.append(weights)
        total = sum(w * v for w, v in zip(self.loss_weights, values)) + penalty
        rows = len(outputs[0])
        self.total_loss += total * rows
        self.output_totals = [t + v * rows for t, v in zip(self.output_totals, values)]
        self.count += rows
        for group, y, out, weights in zip(self.metrics, ys, outputs, metric_weights):
            for _, metric in group:
                metric.update_state(y, out, weights)
        return total

    def output_gradients(self):
        """Per output, ``(d(total loss)/d(output), None)``, or ``(None, d/d(pre-activation))``
        where the loss is fused with the output layer's activation."""
        grads, logit_grads = [], []
        for loss, weight, fused, cache in zip(self.losses, self.loss_weights, self.fused,
                                              self._caches):
            grad = loss.logit_gradient(cache) if fused else loss.gradient(cache)
            if weight != 1.0:
                grad = grad * weight
            grads.append(None if fused else grad)
            logit_grads.append(grad if fused else None)
        return grads, logit_grads

    _pending_logs = None

    def batch_logs(self):
        """:meth:`results` as a dict that computes its values when first looked at: on a device,
        a batch whose logs no callback reads costs no read of the device. Logs still held by a
        callback when the next batch (or a reset) updates the totals are filled first, so they
        keep their batch's values."""
        logs = _BatchLogs(self.results)
        self._pending_logs = weakref.ref(logs)
        return logs

    def _settle_batch_logs(self):
        logs = self._pending_logs() if self._pending_logs is not None else None
        if logs is not None:
            logs.fill()
        self._pending_logs = None

    def results(self):
        """Running values since :meth:`reset`: ``{"loss": ..., metric names: ...}``."""
        logs = {"loss": _log_value(self.total_loss / max(self.count, 1))}
        if len(self.losses) > 1:
            for name, total in zip(self.output_names, self.output_totals):
                logs[f"{name}_loss"] = _log_value(total / max(self.count, 1))
        for group in self.metrics or []:
            for label, metric in group:
                logs[label] = _log_value(metric.result())
        return logs


class _BatchLogs(dict):
    """A dict filled from ``compute()`` on first use (truth testing alone does not fill it)."""

    def __init__(self, compute):
        super().__init__()
        self._compute = compute

    def fill(self):
        if self._compute is not None:
            compute, self._compute = self._compute, None
            dict.update(self, compute())
        return self

    def __bool__(self):
        return True

    def __repr__(self):
        return dict.__repr__(self.fill())

    def __eq__(self, other):
        return dict.__eq__(self.fill(), other)

    __hash__ = None


def _filling(name):
    method = getattr(dict, name)

    def filled(self, *args, **kwargs):
        return method(self.fill(), *args, **kwargs)

    filled.__name__ = name
    return filled


for _name in ("__getitem__", "__iter__", "__len__", "__contains__", "__setitem__", "__delitem__",
              "__or__", "__ior__", "keys", "items", "values", "get", "copy", "pop", "popitem",
              "setdefault", "update"):
    setattr(_BatchLogs, _name, _filling(_name))


def _log_value(result):
    """A metric's result as logs hold it: a float, or a host array for per-class results (a
    custom metric may return a Variable or a 0-d array)."""
    value = getattr(result, "value", result)
    value = value.get() if hasattr(value, "get") else value
    shape = getattr(value, "shape", ())
    return float(value) if shape == () else value


def _mask_weights(sample_weight, mask):
    """``sample_weight`` times an output's mask (batch, ...), or ``sample_weight`` if no mask."""
    if mask is None:
        return sample_weight
    mask = mask.astype("float64")
    if sample_weight is None:
        return mask
    weights = sample_weight.reshape(sample_weight.shape + (1,) * (mask.ndim - sample_weight.ndim))
    return mask * weights
